//! `odoo-bus subscribe`: the profile's saved channel list, which every `tail` (and `send
//! --event`) of the profile subscribes to on top of what the server adds implicitly.
//!
//! - Names are checked as the server will read them ([`ChannelName`]): one it would choke on is
//!   refused with exit 2 and nothing is saved, because the server would otherwise void the whole
//!   subscription without a word. Discuss and presence names are saved in their canonical form
//!   (`discuss.channel_007` → `discuss.channel_7`), so adding twice cannot store two spellings.
//! - A new `discuss.channel_<id>` is checked over JSON-RPC: an unreadable channel is saved with a
//!   warning (the server drops it silently), and a failed check only warns.
//! - `--list` prints one name a line; with `-o ndjson` one JSON string a line (`"discuss.channel_1"`),
//!   so `jq -r .` gives the names back. No option at all means `--list`.

use std::io::Write;
use std::time::Duration;

use super::{Context, LoggedIn};
use crate::cli::{OutputFormat, SubscribeArgs};
use odoo_bus_core::bus::channel::ChannelName;
use odoo_bus_core::config::Profile;
use odoo_bus_core::error::{Error, Result};

/// Longest wait for one access check: subscribe is a local edit, a slow server must not hold it.
const ACCESS_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

const IMPLICIT_REMINDER: &str = "note: tail also subscribes implicitly to your member channels, your own partner (direct messages, inbox) and your groups; the saved channels come on top";

pub async fn run(ctx: &Context, args: SubscribeArgs) -> Result<i32> {
    let editing = !args.channels.is_empty() || !args.remove.is_empty() || args.clear;
    if !editing {
        let profile = ctx.load_profile()?;
        return print_list(&profile.channels, args.output);
    }
    let saved = ctx.load_profile()?;
    let names = server_names(ctx, &saved, &args.channels);
    let additions = validate_additions(&names, saved.server_version_major)?;
    for a in &additions {
        if a.canonical != a.given {
            ctx.ui.info(format!(
                "the server reads {:?} as {}: saved as that",
                a.given, a.canonical
            ));
        }
    }
    let to_check: Vec<u64> = additions
        .iter()
        .filter(|a| !saved.channels.contains(&a.canonical))
        .filter_map(|a| a.discuss_id)
        .collect();
    if !to_check.is_empty() {
        check_access(ctx, &to_check).await;
    }

    let change = Change {
        add: additions.iter().map(|a| a.canonical.clone()).collect(),
        remove: args.remove.iter().map(|r| removal_key(r)).collect(),
        clear: args.clear,
    };
    let outcome = ctx
        .store
        .update_profile(ctx.profile_name(), |p| Ok(change.apply(&mut p.channels)))?;
    report(ctx, &outcome);
    if args.list {
        return print_list(&outcome.now, args.output);
    }
    Ok(0)
}

/// The names as the profile's server spells chat channels (see
/// [`odoo_bus_core::odoo::version::Flavor::map_channel`]); what cannot exist there is said and
/// left out (16: chat channels come by default; 16 and early 17: no presence channels).
fn server_names(ctx: &Context, profile: &Profile, names: &[String]) -> Vec<String> {
    use odoo_bus_core::odoo::version::MappedChannel;
    let flavor = profile.flavor();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let mapped = flavor.map_channel(name);
        if let Some(note) = flavor.channel_note(&mapped) {
            ctx.ui.info(note);
        }
        match mapped {
            MappedChannel::Send(to) | MappedChannel::Renamed { to, .. } => out.push(to),
            MappedChannel::ByDefault { .. } | MappedChannel::NoPresenceChannels => {}
        }
    }
    out
}

/// A name to add, as given and as it will be saved.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Addition {
    given: String,
    canonical: String,
    discuss_id: Option<u64>,
}

/// Every name must pass, or nothing is saved.
fn validate_additions(names: &[String], server_major: Option<u32>) -> Result<Vec<Addition>> {
    names
        .iter()
        .map(|given| {
            let parsed = ChannelName::parse(given)
                .and_then(|c| c.check_server(server_major).map(|()| c))
                .map_err(|e| {
                    Error::usage(format!("invalid channel {given:?}: {e}; nothing was saved"))
                })?;
            Ok(Addition {
                given: given.clone(),
                canonical: parsed.canonical(),
                discuss_id: parsed.discuss_id(),
            })
        })
        .collect()
}

/// What `--remove NAME` matches: the canonical form when the name is valid, else the exact
/// string (so a bad name saved by hand can still be removed).
fn removal_key(name: &str) -> RemovalKey {
    RemovalKey {
        given: name.to_string(),
        canonical: ChannelName::parse(name).ok().map(|c| c.canonical()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RemovalKey {
    given: String,
    canonical: Option<String>,
}

impl RemovalKey {
    fn matches(&self, saved: &str) -> bool {
        saved == self.given || self.canonical.as_deref() == Some(saved)
    }
}

/// The edit, applied to the list as it is in the file under the lock.
#[derive(Debug, Clone, Default)]
struct Change {
    add: Vec<String>,
    remove: Vec<RemovalKey>,
    clear: bool,
}

/// What the edit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Outcome {
    added: Vec<String>,
    already_saved: Vec<String>,
    removed: Vec<String>,
    not_saved: Vec<String>,
    cleared: usize,
    was_empty: bool,
    now: Vec<String>,
}

impl Change {
    /// Clear first, then remove, then add (so `--remove a b` with `a` re-added keeps `a`).
    fn apply(&self, channels: &mut Vec<String>) -> Outcome {
        let mut out = Outcome {
            was_empty: channels.is_empty(),
            ..Outcome::default()
        };
        if self.clear {
            out.cleared = channels.len();
            channels.clear();
        }
        for key in &self.remove {
            let before = channels.len();
            channels.retain(|c| {
                let hit = key.matches(c);
                if hit {
                    out.removed.push(c.clone());
                }
                !hit
            });
            if channels.len() == before {
                out.not_saved.push(key.given.clone());
            }
        }
        for name in &self.add {
            if channels.contains(name) {
                if !out.already_saved.contains(name) {
                    out.already_saved.push(name.clone());
                }
            } else {
                channels.push(name.clone());
                out.added.push(name.clone());
            }
        }
        out.now = channels.clone();
        out
    }
}

fn report(ctx: &Context, o: &Outcome) {
    let ui = &ctx.ui;
    for name in &o.already_saved {
        ui.debug(1, format!("{name} is already saved: nothing to do"));
    }
    for name in &o.not_saved {
        ui.warn(format!("{name:?} is not a saved channel: nothing removed"));
    }
    if o.cleared > 0 {
        ui.info(format!("removed all {} saved channels", o.cleared));
    }
    if !o.removed.is_empty() {
        ui.info(format!("removed {}", o.removed.join(", ")));
    }
    if !o.added.is_empty() {
        ui.info(format!("added {}", o.added.join(", ")));
    }
    if o.was_empty && !o.now.is_empty() {
        ui.info(IMPLICIT_REMINDER);
    }
}

/// Warn about each discuss channel the user cannot read (the server would drop it silently),
/// or that could not be checked. Never fails: the list is the user's to keep.
async fn check_access(ctx: &Context, ids: &[u64]) {
    let me = match ctx.logged_in() {
        Ok(me) => me,
        Err(e) => {
            for id in ids {
                ctx.ui.warn(format!(
                    "could not check that discuss.channel_{id} is readable ({}); saved anyway",
                    e.message
                ));
            }
            return;
        }
    };
    let client = match ctx.logged_in_client(&me) {
        Ok(c) => c,
        Err(e) => {
            ctx.ui.warn(format!(
                "could not check channel access ({}); saved anyway",
                e.message
            ));
            return;
        }
    };
    for &id in ids {
        let answer = tokio::time::timeout(
            ACCESS_CHECK_TIMEOUT,
            client.readable_channel(me.profile.flavor(), id as i64),
        )
        .await;
        match answer {
            Ok(Ok(Some(channel))) => ctx.ui.debug(
                1,
                format!(
                    "discuss.channel_{id} is readable: #{} ({})",
                    channel.name, channel.channel_type
                ),
            ),
            Ok(Ok(None)) => ctx.ui.warn(format!(
                "discuss.channel_{id} does not exist or {} cannot read it: the server will silently ignore this channel (saved anyway)",
                who(&me)
            )),
            Ok(Err(e)) => {
                let why = e.user_error(&ctx.error_context(&me.url, false)).message;
                ctx.ui.warn(format!(
                    "could not check that discuss.channel_{id} is readable ({why}); saved anyway"
                ));
            }
            Err(_) => ctx.ui.warn(format!(
                "could not check that discuss.channel_{id} is readable (no answer within {}s); saved anyway",
                ACCESS_CHECK_TIMEOUT.as_secs()
            )),
        }
    }
}

fn who(me: &LoggedIn) -> String {
    match &me.profile.login {
        Some(login) => format!("user `{login}`"),
        None => "this user".to_string(),
    }
}

/// One name a line on stdout; `-o ndjson`: one JSON string a line. A closed stdout ends quietly.
fn print_list(channels: &[String], format: Option<OutputFormat>) -> Result<i32> {
    let mut text = String::new();
    for c in channels {
        match format {
            Some(OutputFormat::Ndjson) => {
                // A String always serializes.
                text.push_str(&serde_json::to_string(c).unwrap_or_default());
            }
            _ => text.push_str(c),
        }
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Error::other(format!("cannot write to stdout: {e}"))),
    }
}

/// Refuse to subscribe with a name the server would choke on: one saved in the profile (by hand,
/// or before this check existed) or one given on the command line. Used by `tail` and `send
/// --event`, which would otherwise get a silently void subscription.
pub(super) fn check_subscription(ctx: &Context, profile: &Profile, extra: &[String]) -> Result<()> {
    let major = profile.server_version_major;
    let check = |name: &str| ChannelName::parse(name).and_then(|c| c.check_server(major));
    for name in &profile.channels {
        if let Err(e) = check(name) {
            return Err(Error::usage(format!(
                "saved channel {name:?} of profile `{}` would void the whole subscription ({e}): remove it with `odoo-bus{} subscribe --remove {}`",
                ctx.profile_name(),
                odoo_bus_core::error::profile_flag(ctx.profile_name()),
                shell_quote(name)
            )));
        }
    }
    for name in extra {
        if let Err(e) = check(name) {
            return Err(Error::usage(format!("invalid channel {name:?}: {e}")));
        }
    }
    Ok(())
}

/// Single-quote for a POSIX shell, so the hint can be pasted.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:=@+".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn change(add: &[&str], remove: &[&str], clear: bool) -> Change {
        Change {
            add: strings(add),
            remove: remove.iter().map(|r| removal_key(r)).collect(),
            clear,
        }
    }

    #[test]
    fn adding_keeps_order_and_is_idempotent() {
        let mut list = strings(&["a"]);
        let o = change(&["b", "a", "b"], &[], false).apply(&mut list);
        assert_eq!(list, ["a", "b"]);
        assert_eq!(o.added, ["b"]);
        assert_eq!(o.already_saved, ["a", "b"]);
        assert!(!o.was_empty);
        assert_eq!(o.now, ["a", "b"]);
    }

    #[test]
    fn removing_matches_the_canonical_form_and_reports_unknown_names() {
        let mut list = strings(&["discuss.channel_7", "odd name", "x"]);
        let o = change(&[], &["discuss.channel_007", "odd name", "nope"], false).apply(&mut list);
        assert_eq!(list, ["x"]);
        assert_eq!(o.removed, ["discuss.channel_7", "odd name"]);
        assert_eq!(o.not_saved, ["nope"]);
        // A name the parser refuses is still removable by its exact spelling.
        let mut list = strings(&["odoo-presence-res.partner_abc"]);
        let o = change(&[], &["odoo-presence-res.partner_abc"], false).apply(&mut list);
        assert!(list.is_empty());
        assert_eq!(o.removed.len(), 1);
    }

    #[test]
    fn clear_empties_then_additions_apply() {
        let mut list = strings(&["a", "b"]);
        let o = change(&["c"], &[], true).apply(&mut list);
        assert_eq!(list, ["c"]);
        assert_eq!(o.cleared, 2);
        assert_eq!(o.added, ["c"]);
    }

    #[test]
    fn was_empty_tells_when_the_reminder_is_due() {
        let mut list = Vec::new();
        assert!(change(&["a"], &[], false).apply(&mut list).was_empty);
        assert!(!change(&["b"], &[], false).apply(&mut list).was_empty);
    }

    #[test]
    fn validation_is_all_or_nothing_and_canonicalises() {
        let ok = validate_additions(&strings(&["discuss.channel_07", "plain"]), Some(18)).unwrap();
        assert_eq!(ok[0].canonical, "discuss.channel_7");
        assert_eq!(ok[0].discuss_id, Some(7));
        assert_eq!(ok[1].canonical, "plain");
        assert_eq!(ok[1].discuss_id, None);
        let e = validate_additions(&strings(&["fine", "  "]), Some(18)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("nothing was saved"), "{}", e.message);
        let e = validate_additions(&strings(&["odoo-presence-res.partner_7-ab"]), Some(18))
            .unwrap_err();
        assert!(e.message.contains("Odoo 19"), "{}", e.message);
        assert!(
            validate_additions(&strings(&["odoo-presence-res.partner_7-ab"]), Some(19)).is_ok()
        );
    }

    #[test]
    fn quoting_for_the_remove_hint() {
        assert_eq!(shell_quote("discuss.channel_1"), "discuss.channel_1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("mail.guest_1|t"), "'mail.guest_1|t'");
    }
}
