//! `send --wait`: post a message and time its way back over the bus, the round trip a user's
//! browser depends on. A post that succeeds but never comes back is the classic realtime
//! failure (`/websocket` not proxied, a dead dispatcher, a worker that never gets NOTIFY).
//!
//! Order matters: the bus is opened and subscribed to the channel first, then the message is
//! posted with a `temporary_id` in the context (the web client does the same), which Odoo echoes
//! in the `*/new_message` payload (17 and later; on 16, which does not echo it, the message id the
//! post returns is matched instead). Every version's payload is read by
//! [`odoo_bus_core::odoo::version::new_message`]. The subscription starts at `last = 0`, so even
//! if the server processed the subscribe after the post committed, its replay of the last 50 s
//! still brings the message: the wait can never miss it on a healthy server.

use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::Value;

use super::super::client::ProfileSessionKeeper;
use super::super::{Context, LoggedIn, tail};
use crate::cli::{OutputFormat, SendArgs};
use odoo_bus_core::bus::protocol::Notification;
use odoo_bus_core::bus::stream::{BusStream, Event, StartAt, Status};
use odoo_bus_core::error::{Error, Result};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::version;

pub(super) async fn run(
    ctx: &Context,
    me: &LoggedIn,
    client: &OdooClient,
    channel_id: i64,
    body: &str,
    args: &SendArgs,
) -> Result<i32> {
    let (message_id, latency) = measure(ctx, me, client, channel_id, body, args).await?;
    super::print_line(&result_line(args.output, None, message_id, latency))
}

/// The line `--wait` prints; with several profiles it names the profile.
pub(super) fn result_line(
    output: Option<OutputFormat>,
    profile: Option<&str>,
    message_id: i64,
    latency: u128,
) -> String {
    match (output, profile) {
        (Some(OutputFormat::Ndjson), None) => {
            format!("{{\"message_id\":{message_id},\"latency_ms\":{latency}}}")
        }
        (Some(OutputFormat::Ndjson), Some(p)) => format!(
            "{{\"message_id\":{message_id},\"latency_ms\":{latency},\"profile\":{}}}",
            serde_json::Value::from(p)
        ),
        (_, None) => format!("message {message_id} delivered in {latency} ms"),
        (_, Some(p)) => format!("{p}\tmessage {message_id} delivered in {latency} ms"),
    }
}

/// Posts and waits: the message id and the round trip in milliseconds.
pub(super) async fn measure(
    ctx: &Context,
    me: &LoggedIn,
    client: &OdooClient,
    channel_id: i64,
    body: &str,
    args: &SendArgs,
) -> Result<(i64, u128)> {
    // Odoo hands a stale session a silently public socket, which would never see the message.
    ctx.require_valid_session(client).await?;
    let timeout = args.timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut options = tail::stream_options(
        ctx,
        me,
        // 16 has no channel strings: the member's channels come by default.
        me.profile
            .flavor()
            .channel_subscription(channel_id as u64)
            .into_iter()
            .collect(),
        StartAt::Recent,
        true,
        false,
    )?;
    tail::choose_transport(me, &mut options, args.transport, args.poll_interval)?;
    let keeper = ProfileSessionKeeper::new(ctx, ctx.logged_in_client(me)?);
    let mut stream = BusStream::new(options, keeper);

    match tokio::time::timeout_at(deadline, until_connected(ctx, &mut stream)).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(Error::timeout(format!(
                "the bus did not connect within {}: nothing was posted; run `odoo-bus doctor` to find the broken hop",
                format_duration(timeout)
            )));
        }
    }

    let temporary_id = new_temporary_id();
    let mut watch = Watch::new(channel_id, temporary_id);
    let started = Instant::now();
    let post = super::post(
        ctx,
        me,
        client,
        channel_id,
        body,
        Some(temporary_id),
        timeout,
    );
    tokio::pin!(post);
    let mut posted: Option<i64> = None;
    let (message_id, arrived) = loop {
        if let (Some(id), Some(at)) = (posted, watch.arrival(posted)) {
            break (id, at);
        }
        tokio::select! {
            result = &mut post, if posted.is_none() => posted = Some(result?),
            event = stream.next() => match event? {
                Event::Batch(batch) => watch.look(&batch.fresh, Instant::now()),
                Event::Status(status) => debug_status(ctx, &status),
                Event::End => {
                    return Err(Error::connection(format!(
                        "the server closed the websocket before the message came back{}",
                        posted.map(|id| format!(" (message {id} was posted)")).unwrap_or_default()
                    )));
                }
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(match posted {
                    Some(id) => never_delivered(id, channel_id, timeout),
                    None => Error::timeout(format!(
                        "the post did not answer within {}: the message may or may not have been posted",
                        format_duration(timeout)
                    )),
                });
            }
        }
    };
    stream.close().await;
    let latency = arrived.saturating_duration_since(started).as_millis();
    Ok((message_id, latency))
}

/// The exit-124 message: the post worked, the bus did not.
fn never_delivered(message_id: i64, channel_id: i64, timeout: Duration) -> Error {
    Error::timeout(format!(
        "message {message_id} was posted in channel {channel_id}, but the bus never delivered it within {}: the classic realtime failure this tool exists to expose; run `odoo-bus doctor` to find the broken hop",
        format_duration(timeout)
    ))
}

fn format_duration(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64))
}

/// Until the subscribe is on the wire (the stream's `Connected`); a first connection that fails
/// is fatal inside the stream.
async fn until_connected<K: odoo_bus_core::bus::stream::SessionKeeper>(
    ctx: &Context,
    stream: &mut BusStream<K>,
) -> Result<()> {
    loop {
        match stream.next().await? {
            Event::Status(status @ (Status::Connected { .. } | Status::Polling { .. })) => {
                debug_status(ctx, &status);
                return Ok(());
            }
            Event::Status(status) => debug_status(ctx, &status),
            // Nothing can arrive before the subscribe; ignore rather than assume.
            Event::Batch(_) => {}
            Event::End => {
                return Err(Error::connection(
                    "the server closed the websocket at once: nothing was posted; run `odoo-bus doctor`",
                ));
            }
        }
    }
}

/// Connection states stay out of the way at the default verbosity: the result line says it all.
fn debug_status(ctx: &Context, status: &Status) {
    match status {
        Status::Connected { url, .. } => ctx.ui.debug(1, format!("subscribed on {url}")),
        Status::Polling { url, fell_back, .. } => {
            if let Some(reason) = fell_back {
                ctx.ui.warn(format!("{reason}; falling back to polling"));
            }
            ctx.ui.debug(1, format!("polling {url}"))
        }
        Status::Disconnected { explanation, .. } => {
            ctx.ui.warn(format!("disconnected: {explanation}"))
        }
        Status::Retrying { error, .. } => ctx.ui.debug(1, format!("{error}; retrying")),
        Status::Malformed { reason, .. } => ctx
            .ui
            .debug(1, format!("skipped a malformed frame ({reason})")),
        Status::Connecting { attempt } => {
            ctx.ui.debug(1, format!("connecting (attempt {attempt})"))
        }
    }
}

/// A float like the web client's, random so two concurrent senders cannot match each other's
/// message. Never 0 (Odoo treats a falsy temporary_id as absent).
fn new_temporary_id() -> f64 {
    let r: f64 = rand::rng().random();
    0.5 + r / 2.0
}

/// Which `new_message` is ours: the one echoing our `temporary_id`, or, should a server not echo
/// it, the one carrying the id the post returned (those are remembered until the post answers).
struct Watch {
    channel_id: i64,
    temporary_id: f64,
    /// When our message arrived (matched by temporary_id).
    ours: Option<Instant>,
    /// Messages of the channel without our temporary_id, by message id.
    others: Vec<(i64, Instant)>,
}

/// Enough for a busy channel during one post.
const MAX_REMEMBERED: usize = 256;

impl Watch {
    fn new(channel_id: i64, temporary_id: f64) -> Self {
        Watch {
            channel_id,
            temporary_id,
            ours: None,
            others: Vec::new(),
        }
    }

    fn look(&mut self, batch: &[Notification<'_>], at: Instant) {
        for n in batch.iter().filter(|n| version::is_new_message(&n.kind)) {
            let Some(message) = serde_json::from_str::<Value>(n.payload.get())
                .ok()
                .as_ref()
                .and_then(version::new_message)
            else {
                continue;
            };
            if message.channel_id != Some(self.channel_id) {
                continue;
            }
            // Not `==`: serde_json's default float parsing may land one ULP off the value we sent
            // (ids are in [0.5, 1), where a few EPSILON are a few ULPs).
            if message
                .temporary_id
                .is_some_and(|e| (e - self.temporary_id).abs() <= 4.0 * f64::EPSILON)
            {
                self.ours.get_or_insert(at);
            } else if let Some(id) = message.message_id {
                if self.others.len() == MAX_REMEMBERED {
                    self.others.remove(0);
                }
                self.others.push((id, at));
            }
        }
    }

    /// When our message arrived, if it has.
    fn arrival(&self, posted: Option<i64>) -> Option<Instant> {
        self.ours.or_else(|| {
            let id = posted?;
            self.others
                .iter()
                .find(|(m, _)| *m == id)
                .map(|(_, at)| *at)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odoo_bus_core::bus::protocol::decode_batch;

    fn frame(channel: i64, message: i64, temporary_id: Option<f64>) -> String {
        let tmp = temporary_id
            .map(|t| format!(", \"temporary_id\": {t}"))
            .unwrap_or_default();
        format!(
            r#"[{{"id": 9, "message": {{"type": "mail.record/insert", "payload": {{"discuss.channel": [{{"id": {channel}}}]}}}}}}, {{"id": 10, "message": {{"type": "discuss.channel/new_message", "payload": {{"data": {{"mail.message": [{{"id": {message}, "body": "<p>x</p>"}}]}}, "id": {channel}{tmp}}}}}}}]"#
        )
    }

    #[test]
    fn matches_every_temporary_id_after_a_json_round_trip() {
        for _ in 0..100_000 {
            let tmp = new_temporary_id();
            let mut w = Watch::new(1, tmp);
            let t = Instant::now();
            w.look(&decode_batch(&frame(1, 42, Some(tmp))).unwrap(), t);
            assert_eq!(w.arrival(None), Some(t), "{tmp}");
        }
    }

    #[test]
    fn matches_the_echoed_temporary_id() {
        let tmp = new_temporary_id();
        let mut w = Watch::new(1, tmp);
        let t0 = Instant::now();
        w.look(&decode_batch(&frame(1, 40, Some(0.25))).unwrap(), t0);
        assert_eq!(w.arrival(None), None, "another sender's message");
        w.look(&decode_batch(&frame(2, 41, Some(tmp))).unwrap(), t0);
        assert_eq!(w.arrival(None), None, "another channel");
        let t1 = Instant::now();
        w.look(&decode_batch(&frame(1, 42, Some(tmp))).unwrap(), t1);
        assert_eq!(w.arrival(None), Some(t1), "ours, before the post answered");
    }

    #[test]
    fn falls_back_to_the_posted_message_id() {
        let mut w = Watch::new(1, new_temporary_id());
        let t = Instant::now();
        w.look(&decode_batch(&frame(1, 42, None)).unwrap(), t);
        assert_eq!(w.arrival(None), None);
        assert_eq!(w.arrival(Some(41)), None);
        assert_eq!(w.arrival(Some(42)), Some(t));
    }

    #[test]
    fn the_real_servers_frame_matches() {
        // Captured on Odoo 18: demo's post with temporary_id 0.5 in channel 1, message 21.
        const HELLO: &str =
            include_str!("../../../crates/core/fixtures/odoo18/new_message_hello.json");
        let mut w = Watch::new(1, 0.5);
        let t = Instant::now();
        w.look(&decode_batch(HELLO).unwrap(), t);
        assert_eq!(w.arrival(None), Some(t));
        let mut by_id = Watch::new(1, 0.75);
        by_id.look(&decode_batch(HELLO).unwrap(), t);
        assert_eq!(by_id.arrival(Some(21)), Some(t));
    }

    #[test]
    fn temporary_ids_are_never_zero() {
        for _ in 0..100 {
            let t = new_temporary_id();
            assert!((0.5..=1.0).contains(&t), "{t}");
        }
    }
}
