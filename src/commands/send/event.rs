//! `send --event NAME [--data JSON]`: one raw websocket event on a short-lived authenticated
//! connection, then whatever arrives during `--listen`, printed as `tail` prints it.
//!
//! The connection subscribes first (the profile's saved channels, `last = 0`), lets the server's
//! replay of the last 50 s go by unprinted (see [`skip_replay`]), then sends the event: what is
//! printed arrived after it. A user-sent `subscribe` therefore *replaces* that subscription on
//! the server, which is what the user asked for. Odoo never answers an event it rejects (§3.1),
//! so silence is reported.

use std::time::Duration;

use serde_json::value::RawValue;

use super::super::client::ProfileSessionKeeper;
use super::super::{Context, tail};
use crate::cli::SendArgs;
use crate::output::FrameView;
use odoo_bus_core::bus::channel::{ChannelName, PresenceModel};
use odoo_bus_core::bus::protocol;
use odoo_bus_core::bus::stream::{BusStream, Event, StartAt, Status};
use odoo_bus_core::config::Profile;
use odoo_bus_core::error::{Error, Result};

pub(super) async fn run(ctx: &Context, name: &str, args: &SendArgs) -> Result<i32> {
    // Everything the user typed is checked before anything is sent.
    if args.wait || args.html {
        return Err(Error::usage(
            "--wait and --html apply to posting a message, not to --event",
        ));
    }
    let frame = event_frame(name, args.data.as_deref())?;
    if name == "subscribe" {
        warn_about_subscribe_data(ctx, args.data.as_deref());
    }
    let me = ctx.logged_in()?;
    super::super::subscribe::check_subscription(ctx, &me.profile, &[])?;
    let client = ctx.logged_in_client(&me)?;
    ctx.require_valid_session(&client).await?;

    let options = tail::stream_options(
        ctx,
        &me,
        me.profile.channels.clone(),
        StartAt::Recent,
        false,
        false,
    )?;
    let mut stream = BusStream::new(options, ProfileSessionKeeper::new(ctx, client));
    let mut spinner = None;
    loop {
        match stream.next().await? {
            Event::Status(status @ Status::Connected { .. }) => {
                spinner = None;
                ctx.ui.debug(1, connected_line(&status));
                break;
            }
            Event::Status(status) => tail::report(ctx, &status, &mut spinner),
            Event::Batch(_) => {}
            Event::End => {
                return Err(Error::connection(
                    "the server closed the websocket at once: nothing was sent; run `odoo-bus doctor`",
                ));
            }
        }
    }
    drop(spinner);
    let replayed = skip_replay(ctx, &mut stream).await?;
    if replayed > 0 {
        ctx.ui.debug(
            1,
            format!(
                "not printing {replayed} notifications the server replayed from before the event"
            ),
        );
    }
    ctx.ui.debug(1, format!("sending {frame}"));
    stream.send_event(frame).await?;

    let mut printer = tail::stdout_printer(
        ctx,
        args.output,
        false,
        false,
        Box::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        )),
    );
    let deadline = tokio::time::Instant::now() + args.listen;
    let mut printed = 0usize;
    let mut no_spinner = None;
    loop {
        let event = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            event = stream.next() => event?,
        };
        match event {
            Event::Batch(batch) if !batch.fresh.is_empty() => {
                let view = FrameView {
                    text: batch.text,
                    received_at: batch.received_at,
                    notifications: &batch.fresh,
                };
                match printer.frame(&view) {
                    Ok(()) => printed += batch.fresh.len(),
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        stream.close().await;
                        return Ok(0);
                    }
                    Err(e) => return Err(Error::other(format!("cannot write to stdout: {e}"))),
                }
            }
            Event::Batch(_) => {}
            Event::Status(status) => tail::report(ctx, &status, &mut no_spinner),
            Event::End => {
                ctx.ui
                    .info("the server closed the websocket cleanly (1000)");
                break;
            }
        }
    }
    stream.close().await;
    if printed == 0 {
        ctx.ui.info(silence_note(args.listen));
        if let Some(hint) = own_presence_hint(name, &me.profile) {
            ctx.ui.info(hint);
        }
    }
    Ok(0)
}

/// How long to wait for the subscription's replay before sending the event. Odoo sends it (one
/// frame, if it kept anything from the last 50 s) right after processing the subscribe, which is
/// within milliseconds on a healthy server; only a very slow server could let it leak into the
/// output.
const REPLAY_GRACE: Duration = Duration::from_millis(500);

/// Let the replay of the initial subscribe arrive and keep it out of the output, so that what
/// is printed came after the event. Odoo dispatches pending notifications before it reads the
/// next client message, so once this frame is in, nothing older follows. Returns how many
/// notifications were skipped.
async fn skip_replay<K: odoo_bus_core::bus::stream::SessionKeeper>(
    ctx: &Context,
    stream: &mut BusStream<K>,
) -> Result<usize> {
    let grace = tokio::time::sleep(REPLAY_GRACE);
    tokio::pin!(grace);
    let mut no_spinner = None;
    loop {
        let event = tokio::select! {
            _ = &mut grace => return Ok(0),
            event = stream.next() => event?,
        };
        match event {
            Event::Batch(batch) => return Ok(batch.fresh.len()),
            Event::Status(status) => tail::report(ctx, &status, &mut no_spinner),
            Event::End => {
                return Err(Error::connection(
                    "the server closed the websocket at once: nothing was sent; run `odoo-bus doctor`",
                ));
            }
        }
    }
}

/// `update_presence` changes the sender's own status, which the server announces only on the
/// sender's presence channel: without it in the saved channels, silence is expected.
fn own_presence_hint(event: &str, profile: &Profile) -> Option<String> {
    if event != "update_presence" {
        return None;
    }
    let partner = profile.partner_id?;
    let watching_self = profile.channels.iter().any(|c| {
        matches!(
            ChannelName::parse(c),
            Ok(ChannelName::Presence { model: PresenceModel::Partner, id, .. }) if id as i64 == partner
        )
    });
    (!watching_self).then(|| {
        format!(
            "note: a status change is announced only on odoo-presence-res.partner_{partner}, which this profile does not subscribe to; `odoo-bus subscribe odoo-presence-res.partner_{partner}` to see it"
        )
    })
}

/// The frame to send, or a usage error before any connection is made.
fn event_frame(name: &str, data: Option<&str>) -> Result<String> {
    if name.trim().is_empty() {
        return Err(Error::usage(
            "--event needs a name, e.g. update_presence or subscribe",
        ));
    }
    let data: Option<Box<RawValue>> = match data {
        Some(text) => Some(serde_json::from_str(text).map_err(|e| {
            Error::usage(format!("--data is not valid JSON ({e}): nothing was sent"))
        })?),
        None => None,
    };
    Ok(protocol::event(name, data.as_deref()))
}

/// A hand-written `subscribe` goes out as typed (it is a raw tool), but a name the server chokes
/// on voids it silently: say so first.
fn warn_about_subscribe_data(ctx: &Context, data: Option<&str>) {
    let Some(value) = data.and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()) else {
        return;
    };
    let problems = subscribe_data_problems(&value);
    for p in problems {
        ctx.ui.warn(format!("{p}; sending it anyway, as asked"));
    }
}

/// What in a `subscribe`'s data would make Odoo 18 drop it (§3.2).
fn subscribe_data_problems(data: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    if data.get("last").is_none() || data.get("channels").is_none() {
        out.push(
            "subscribe data needs both \"channels\" and \"last\": without either the server drops it"
                .to_string(),
        );
    }
    if let Some(channels) = data.get("channels") {
        match channels.as_array() {
            None => out.push("\"channels\" must be a list of strings".to_string()),
            Some(list) => {
                for c in list {
                    match c.as_str() {
                        None => out.push(format!(
                            "channel {c} is not a string: the server drops the whole subscription"
                        )),
                        Some(s) => {
                            if let Err(e) = ChannelName::parse(s) {
                                out.push(format!("channel {s:?}: {e}"));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn connected_line(status: &Status) -> String {
    match status {
        Status::Connected { url, .. } => format!("subscribed on {url}"),
        _ => String::new(),
    }
}

fn silence_note(listen: Duration) -> String {
    format!(
        "note: no notification arrived within {}; Odoo never answers an event it rejects, so a typo in NAME or DATA looks exactly like this",
        humantime::format_duration(Duration::from_millis(listen.as_millis() as u64))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_are_built_from_valid_json_only() {
        assert_eq!(
            event_frame(
                "update_presence",
                Some(r#"{"inactivity_period":0,"im_status_ids_by_model":{}}"#)
            )
            .unwrap(),
            r#"{"event_name":"update_presence","data":{"inactivity_period":0,"im_status_ids_by_model":{}}}"#
        );
        assert_eq!(
            event_frame("whoami", None).unwrap(),
            r#"{"event_name":"whoami"}"#
        );
        for bad in ["{", "", "{'a': 1}", "nope", "[1,]"] {
            let e = event_frame("x", Some(bad)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.message.contains("nothing was sent"), "{}", e.message);
        }
        assert_eq!(event_frame(" ", None).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn subscribe_data_is_checked_like_the_server_would() {
        assert!(
            subscribe_data_problems(&json!({"channels": ["discuss.channel_1"], "last": 0}))
                .is_empty()
        );
        let p = subscribe_data_problems(&json!({"channels": ["odoo-presence-res.partner_x", 3]}));
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("\"last\""));
        assert!(p[1].contains("must be a number"));
        assert!(p[2].contains("not a string"));
    }

    #[test]
    fn the_own_presence_hint_only_when_it_explains_the_silence() {
        let mut p = Profile {
            partner_id: Some(3),
            ..Profile::default()
        };
        let hint = own_presence_hint("update_presence", &p).unwrap();
        assert!(
            hint.contains("subscribe odoo-presence-res.partner_3"),
            "{hint}"
        );
        assert_eq!(own_presence_hint("subscribe", &p), None);
        p.channels = vec!["odoo-presence-res.partner_03".into()];
        assert_eq!(own_presence_hint("update_presence", &p), None);
        p.channels = vec!["odoo-presence-res.partner_7".into()];
        assert!(own_presence_hint("update_presence", &p).is_some());
    }

    #[test]
    fn the_silence_note_names_the_window() {
        let n = silence_note(Duration::from_secs(2));
        assert!(
            n.contains("within 2s") && n.contains("never answers"),
            "{n}"
        );
    }
}
