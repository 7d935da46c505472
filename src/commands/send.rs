//! `odoo-bus send`: post a chat message in a discuss channel through `/mail/message/post`
//! (`--wait`: and time its way back over the bus, see [`wait`]), or send one raw websocket event
//! (`--event`, see [`event`]).
//!
//! Output on stdout is the new message id (`42`, or `{"message_id":42}` with `-o ndjson`; the
//! other formats print the plain text).

mod event;
mod wait;

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use super::{Context, LoggedIn};
use crate::cli::{OutputFormat, SendArgs};
use odoo_bus_core::bus::channel::MAX_RECORD_ID;
use odoo_bus_core::error::{Error, Result};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::discuss::text_to_html;
use odoo_bus_core::odoo::rpc::RpcError;

pub async fn run(ctx: &Context, args: SendArgs) -> Result<i32> {
    if let Some(name) = &args.event {
        return event::run(ctx, name, &args).await;
    }
    let channel = args.channel.as_deref().ok_or_else(|| {
        Error::usage("give the CHANNEL to post in: discuss.channel_<id> or just the id")
    })?;
    let channel_id = channel_id(channel)?;
    let text = message_text(args.text.as_deref())?;
    let body = message_body(&text, args.html)?;
    if args.wait
        && let super::profiles::Request::Many { .. } = super::profiles::request(ctx)
    {
        let names = super::profiles::select(ctx)?;
        return wait_in_each(ctx, &names, channel_id, &body, &args).await;
    }
    let me = ctx.logged_in()?;
    let client = ctx.logged_in_client(&me)?;
    if args.wait {
        return wait::run(ctx, &me, &client, channel_id, &body, &args).await;
    }
    let id = post(ctx, &me, &client, channel_id, &body, None, args.timeout).await?;
    let line = match args.output {
        Some(OutputFormat::Ndjson) => format!("{{\"message_id\":{id}}}"),
        _ => id.to_string(),
    };
    print_line(&line)
}

/// `send --wait` with several profiles: posts in each at once and waits for each; one line per
/// profile as each comes back (`NAME<TAB>message 42 delivered in 12 ms`, or NDJSON with
/// `"profile"`); a profile that fails says so on stderr under its name. The exit code is the
/// first failing profile's (in the order given), 0 when all came back.
async fn wait_in_each(
    ctx: &Context,
    names: &[String],
    channel_id: i64,
    body: &str,
    args: &SendArgs,
) -> Result<i32> {
    let one = |index: usize, name: String| async move {
        let ctx = ctx.for_profile(&name);
        let result = async {
            let me = ctx.logged_in()?;
            let client = ctx.logged_in_client(&me)?;
            wait::measure(&ctx, &me, &client, channel_id, body, args).await
        }
        .await;
        match &result {
            Ok((id, latency)) => {
                if let Err(e) =
                    print_line(&wait::result_line(args.output, Some(&name), *id, *latency))
                {
                    return (index, Some(e));
                }
            }
            Err(e) => ctx.ui.error(&e.message),
        }
        (index, result.err())
    };
    let runs = names
        .iter()
        .enumerate()
        .map(|(i, name)| one(i, name.clone()))
        .collect();
    // Side by side: each profile's post and wait run at the same time.
    let failures = super::profiles::join_all(runs).await;
    let failures = failures.into_iter().filter_map(|(i, e)| e.map(|e| (i, e)));
    match failures.min_by_key(|(index, _)| *index) {
        None => Ok(0),
        Some((_, e)) => Ok(e.exit_code()),
    }
}

/// `discuss.channel_<id>`, `mail.channel_<id>` (16's name) or a bare id, on every version.
fn channel_id(arg: &str) -> Result<i64> {
    match odoo_bus_core::odoo::version::chat_channel_id(arg) {
        // MAX_RECORD_ID fits an i64.
        Some(id) => Ok(id as i64),
        None => Err(Error::usage(format!(
            "CHANNEL must be discuss.channel_<id>, mail.channel_<id> or an id from 1 to {MAX_RECORD_ID}, not {arg:?} (the id is in the channel's URL in Discuss)"
        ))),
    }
}

/// TEXT, or stdin for `-` or when TEXT is absent and stdin is not a terminal.
fn message_text(arg: Option<&str>) -> Result<String> {
    match arg {
        Some("-") => read_stdin(),
        Some(text) => Ok(text.to_string()),
        None if std::io::stdin().is_terminal() => Err(Error::usage(
            "no message: give TEXT, or pipe it in (`echo hi | odoo-bus send discuss.channel_1`)",
        )),
        None => read_stdin(),
    }
}

fn read_stdin() -> Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| Error::other(format!("cannot read the message from stdin: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::usage("the message on stdin is not UTF-8 text: convert it first"))
}

/// The body to post: trailing whitespace dropped (`echo` adds a newline), plain text escaped
/// (see [`text_to_html`]), `--html` sent as given. Empty after trimming is a usage error: Odoo
/// would post an empty message.
fn message_body(text: &str, html: bool) -> Result<String> {
    let text = text.trim_end();
    if text.trim().is_empty() {
        return Err(Error::usage(
            "the message is empty: give some text (or pipe it in)",
        ));
    }
    Ok(if html {
        text.to_string()
    } else {
        text_to_html(text)
    })
}

/// Post and return the new message id; errors are phrased for the user.
async fn post(
    ctx: &Context,
    me: &LoggedIn,
    client: &OdooClient,
    channel_id: i64,
    body: &str,
    temporary_id: Option<f64>,
    timeout: Duration,
) -> Result<i64> {
    let answer = tokio::time::timeout(
        timeout,
        client.post_message(me.profile.flavor(), channel_id, body, temporary_id),
    )
    .await
    .map_err(|_| {
        Error::timeout(format!(
            "the server did not answer the post within {}: the message may or may not have been posted",
            humantime::format_duration(timeout)
        ))
    })?;
    match answer {
        Ok(id) => Ok(id),
        Err(RpcError::NotFound(_)) => Err(not_found(ctx, me, client, channel_id).await),
        Err(e) => Err(e.user_error(&ctx.error_context(&me.url, false))),
    }
}

/// `/mail/message/post` is `auth='public'`: with an expired session the post runs as the public
/// user, who can read no channel, so Odoo answers 404 exactly as for a missing channel. Ask the
/// server which it is.
async fn not_found(ctx: &Context, me: &LoggedIn, client: &OdooClient, channel_id: i64) -> Error {
    if let Ok(false) = client.check().await {
        return Error::session_expired(ctx.profile_name());
    }
    let who = match &me.profile.login {
        Some(login) => format!("user `{login}`"),
        None => "this user".to_string(),
    };
    Error::other(format!(
        "{}_{channel_id} does not exist on {} or {who} cannot read it: check the id (it is in the channel's URL in Discuss)",
        me.profile.flavor().chat_model(),
        me.url.as_str()
    ))
}

/// One line on stdout; a closed stdout (`| head`) is not an error.
fn print_line(line: &str) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Error::other(format!("cannot write to stdout: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_forms() {
        assert_eq!(channel_id("discuss.channel_5").unwrap(), 5);
        assert_eq!(channel_id("12").unwrap(), 12);
        assert_eq!(channel_id("mail.channel_5").unwrap(), 5);
        assert_eq!(channel_id("2147483647").unwrap(), 2_147_483_647);
        for bad in [
            "",
            "0",
            "discuss.channel_",
            "discuss.channel_0",
            "discuss.channel_x",
            "general",
            "-1",
            " 5",
            "2147483648",
            "99999999999999999999999",
            "odoo-presence-res.partner_7",
            "x discuss.channel_5",
        ] {
            let e = channel_id(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.message.contains("discuss.channel_<id>"), "{}", e.message);
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(message_body("a < b\n", false).unwrap(), "a &lt; b");
        assert_eq!(
            message_body("line 1\nline 2\n\n", false).unwrap(),
            "line 1<br>line 2"
        );
        assert_eq!(message_body("<b>x</b>\n", true).unwrap(), "<b>x</b>");
        for empty in ["", "   ", "\n\n", " \t\r\n"] {
            for html in [false, true] {
                assert_eq!(message_body(empty, html).unwrap_err().exit_code(), 2);
            }
        }
    }
}
