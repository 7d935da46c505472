//! Channel names as a client writes them in a `subscribe`, read the way Odoo 18 reads them
//! (`ir.websocket._prepare_subscribe_data` and `_build_bus_channel_list` in `bus` and `mail`),
//! so a name is classified here exactly as the server will treat it.
//!
//! Why this is strict: the server never answers a subscribe. A name it chokes on (a presence
//! with a non-numeric id, a guest token with a non-numeric id, an id too large for PostgreSQL)
//! raises inside the server and **voids the whole subscription** without a word, and a name it
//! merely ignores (a presence of an unknown model, a guest name without a token) just never
//! delivers anything. Both look like "realtime is broken", so both are refused before they are
//! saved or sent. Everything else is accepted: any other string is a valid plain channel.
//!
//! One parser serves `subscribe` (validation, canonical form), `tail --channel` and the
//! `--only-channels` attribution in `output::filter`.

use std::fmt;

/// Record ids are PostgreSQL `integer`s: a larger one makes the server's `search` fail with
/// "integer out of range", which voids the subscription.
pub const MAX_RECORD_ID: u64 = i32::MAX as u64;

const PRESENCE_PREFIX: &str = "odoo-presence-";
const GUEST_PREFIX: &str = "mail.guest_";
const DISCUSS_MARK: &str = "discuss.channel_";

/// Whose presence an `odoo-presence-…` name watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceModel {
    Partner,
    Guest,
}

impl PresenceModel {
    pub fn model(self) -> &'static str {
        match self {
            PresenceModel::Partner => "res.partner",
            PresenceModel::Guest => "mail.guest",
        }
    }
}

/// What the server makes of one channel string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelName<'a> {
    /// A discuss channel: the server finds `discuss.channel_<id>` anywhere in the string (an
    /// unanchored regex) and subscribes to that channel if the user can read it.
    Discuss { id: u64 },
    /// `odoo-presence-res.partner_<id>` / `odoo-presence-mail.guest_<id>`: status changes of
    /// that partner or guest. `token` is Odoo 19's `-<token>` suffix, which 18.0 cannot parse.
    Presence {
        model: PresenceModel,
        id: u64,
        token: Option<&'a str>,
    },
    /// `mail.guest_<id>|<access_token>`: act as that guest (not a channel to listen on).
    GuestToken { guest_id: u64, token: &'a str },
    /// Any other string: kept as is, with no authorisation (anyone can listen on it).
    Plain(&'a str),
}

/// Why a name is refused. Displays the reason only; callers name the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidChannel(String);

impl InvalidChannel {
    fn new(reason: impl Into<String>) -> Self {
        InvalidChannel(reason.into())
    }

    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InvalidChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidChannel {}

const VOIDS: &str = "the server would fail on it and drop the whole subscription";

impl<'a> ChannelName<'a> {
    /// Classify `name` as Odoo 18 will, or say why it must not be sent.
    pub fn parse(name: &'a str) -> Result<Self, InvalidChannel> {
        if name.trim().is_empty() {
            return Err(InvalidChannel::new(
                "empty channel name: give e.g. discuss.channel_1",
            ));
        }
        if name.trim() != name {
            return Err(InvalidChannel::new(
                "leading or trailing whitespace: it is part of the name, so this would be another channel than the one meant (check the quoting)",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidChannel::new(
                "contains a control character (newline, tab…): almost certainly a quoting mistake",
            ));
        }
        // The server takes presence names out first, then guest tokens, then looks for
        // discuss channels in what is left (`_prepare_subscribe_data`, `_build_bus_channel_list`).
        if let Some(rest) = name.strip_prefix(PRESENCE_PREFIX) {
            return parse_presence(rest);
        }
        if let Some(rest) = name.strip_prefix(GUEST_PREFIX) {
            return parse_guest_token(rest);
        }
        match find_discuss_channel(name)? {
            Some(id) => Ok(ChannelName::Discuss { id }),
            None => Ok(ChannelName::Plain(name)),
        }
    }

    /// The shortest spelling the server reads the same way (`discuss.channel_007` and
    /// `x discuss.channel_7` are both `discuss.channel_7`); plain names are unchanged.
    pub fn canonical(&self) -> String {
        match *self {
            ChannelName::Discuss { id } => format!("{DISCUSS_MARK}{id}"),
            ChannelName::Presence { model, id, token } => match token {
                Some(t) => format!("{PRESENCE_PREFIX}{}_{id}-{t}", model.model()),
                None => format!("{PRESENCE_PREFIX}{}_{id}", model.model()),
            },
            ChannelName::GuestToken { guest_id, token } => {
                format!("{GUEST_PREFIX}{guest_id}|{token}")
            }
            ChannelName::Plain(s) => s.to_string(),
        }
    }

    /// The discuss channel id, when this names one.
    pub fn discuss_id(&self) -> Option<u64> {
        match *self {
            ChannelName::Discuss { id } => Some(id),
            _ => None,
        }
    }

    /// Refuse what the given server major version cannot read (`None`: assume 18, the
    /// reference). Odoo 18 reads a presence id with `int()`, so 19's `-<token>` suffix voids
    /// the subscription there.
    pub fn check_server(&self, major: Option<u32>) -> Result<(), InvalidChannel> {
        match self {
            ChannelName::Presence { token: Some(_), .. } if major.unwrap_or(18) < 19 => {
                Err(InvalidChannel::new(format!(
                    "the -<token> suffix is Odoo 19's presence form; Odoo {} reads the id with int(), so {VOIDS}",
                    major.unwrap_or(18)
                )))
            }
            _ => Ok(()),
        }
    }
}

/// `<model>_<id>[-<token>]` after `odoo-presence-`. 18.0 splits on `_` and calls `int()` on
/// the second piece for both known models, so anything but digits there voids the subscribe.
fn parse_presence(rest: &str) -> Result<ChannelName<'_>, InvalidChannel> {
    let Some((model, after)) = rest.split_once('_') else {
        return Err(InvalidChannel::new(format!(
            "a presence name is odoo-presence-res.partner_<id> or odoo-presence-mail.guest_<id>; without _<id> {VOIDS}"
        )));
    };
    let model = match model {
        "res.partner" => PresenceModel::Partner,
        "mail.guest" => PresenceModel::Guest,
        other => {
            return Err(InvalidChannel::new(format!(
                "unknown presence model {other:?}: the server only tracks res.partner and mail.guest, and drops this name"
            )));
        }
    };
    // 18.0 calls int() on the piece up to the next `_`; anything after it is ignored there but
    // makes the name unknown to 19.0's anchored pattern.
    let (id_piece, extra) = match after.split_once('_') {
        Some((piece, extra)) => (piece, Some(extra)),
        None => (after, None),
    };
    let (digits, token) = match id_piece.split_once('-') {
        Some((digits, token)) => (digits, Some(token)),
        None => (id_piece, None),
    };
    let id = record_id(digits, "a presence id")?;
    if extra.is_some() {
        return Err(InvalidChannel::new(format!(
            "unexpected text after the id: write {PRESENCE_PREFIX}{}_{id}",
            model.model()
        )));
    }
    if let Some(token) = token
        && (token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(InvalidChannel::new(format!(
            "the presence token after - must be letters and digits; {VOIDS}"
        )));
    }
    Ok(ChannelName::Presence { model, id, token })
}

/// `<id>|<token>` after `mail.guest_`. The server takes `split("_")[1]`, splits that on `|`
/// and calls `int()` on the id: a non-numeric id voids the subscribe, a missing token makes the
/// name a silent no-op, and a `_` in the token would cut it short.
fn parse_guest_token(rest: &str) -> Result<ChannelName<'_>, InvalidChannel> {
    let Some((digits, token)) = rest.split_once('|') else {
        return Err(InvalidChannel::new(
            "a guest name is mail.guest_<id>|<access_token>; without |<token> the server ignores it",
        ));
    };
    let guest_id = record_id(digits, "a guest id")?;
    if token.is_empty() || token.contains(['_', '|']) {
        return Err(InvalidChannel::new(
            "the guest access token must be non-empty and contain neither _ nor | (the server splits on both)",
        ));
    }
    Ok(ChannelName::GuestToken { guest_id, token })
}

/// The id of the first `discuss.channel_<digits>` in the string, as `re.findall(r'discuss\.channel_(\d+)')[0]`.
/// Python's `\d` also matches non-ASCII digits; such a name is refused rather than guessed.
fn find_discuss_channel(name: &str) -> Result<Option<u64>, InvalidChannel> {
    for (at, _) in name.match_indices(DISCUSS_MARK) {
        let after = &name[at + DISCUSS_MARK.len()..];
        let end = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        if end > 0 {
            return record_id(&after[..end], "a discuss channel id").map(Some);
        }
        if after.starts_with(|c: char| c.is_numeric()) {
            return Err(InvalidChannel::new(
                "write the discuss channel id with ASCII digits (0-9)",
            ));
        }
    }
    Ok(None)
}

/// A record id as the server will use it: ASCII digits, 1 ..= [`MAX_RECORD_ID`].
fn record_id(digits: &str, what: &str) -> Result<u64, InvalidChannel> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidChannel::new(format!(
            "{what} must be a number, not {digits:?}; {VOIDS}"
        )));
    }
    let significant = digits.trim_start_matches('0');
    let id = if significant.len() > 10 {
        None
    } else if significant.is_empty() {
        Some(0)
    } else {
        significant.parse::<u64>().ok()
    };
    match id {
        Some(0) => Err(InvalidChannel::new(format!(
            "{what} of 0 names no record (ids start at 1)"
        ))),
        Some(id) if id <= MAX_RECORD_ID => Ok(id),
        _ => Err(InvalidChannel::new(format!(
            "{what} above {MAX_RECORD_ID} does not fit the database's integer ids; {VOIDS}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str) -> ChannelName<'_> {
        ChannelName::parse(name).unwrap_or_else(|e| panic!("{name:?} refused: {e}"))
    }

    fn refused(name: &str) -> String {
        match ChannelName::parse(name) {
            Ok(c) => panic!("{name:?} accepted as {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn discuss_channels_are_found_anywhere_like_the_server_regex() {
        assert_eq!(ok("discuss.channel_1"), ChannelName::Discuss { id: 1 });
        assert_eq!(ok("discuss.channel_007"), ChannelName::Discuss { id: 7 });
        assert_eq!(
            ok("x discuss.channel_42 y"),
            ChannelName::Discuss { id: 42 }
        );
        assert_eq!(ok("discuss.channel_12abc"), ChannelName::Discuss { id: 12 });
        // The first occurrence followed by digits wins, as `findall(...)[0]`.
        assert_eq!(
            ok("discuss.channel_x discuss.channel_3"),
            ChannelName::Discuss { id: 3 }
        );
        assert_eq!(ok("discuss.channel_007").canonical(), "discuss.channel_7");
        assert_eq!(ok("a-discuss.channel_5-b").canonical(), "discuss.channel_5");
        assert_eq!(ok("discuss.channel_5").discuss_id(), Some(5));
    }

    #[test]
    fn discuss_ids_the_database_cannot_hold_are_refused() {
        assert!(refused("discuss.channel_0").contains("ids start at 1"));
        assert!(refused("discuss.channel_0000").contains("ids start at 1"));
        assert_eq!(
            ok("discuss.channel_2147483647"),
            ChannelName::Discuss { id: 2_147_483_647 }
        );
        assert!(refused("discuss.channel_2147483648").contains("integer ids"));
        assert!(refused("discuss.channel_99999999999999999999999").contains("integer ids"));
        assert!(refused("discuss.channel_٣").contains("ASCII digits"));
    }

    #[test]
    fn plain_strings_are_kept_as_they_are() {
        for name in [
            "broadcast",
            "pos_config-abc",
            "discuss.channel_",
            "discuss.channel_x",
            "discuss.channel",
            "my channel",
            "é😀",
            "odoo-presence",
            "mail.guest",
        ] {
            assert_eq!(ok(name), ChannelName::Plain(name), "{name}");
            assert_eq!(ok(name).canonical(), name);
        }
    }

    #[test]
    fn empty_blank_and_padded_names_are_refused() {
        assert!(refused("").starts_with("empty channel name"));
        assert!(refused("   ").starts_with("empty channel name"));
        assert!(refused("\t\n").starts_with("empty channel name"));
        assert!(refused(" discuss.channel_1").contains("whitespace"));
        assert!(refused("broadcast ").contains("whitespace"));
        assert!(refused("a\nb").contains("control character"));
    }

    #[test]
    fn presence_names() {
        assert_eq!(
            ok("odoo-presence-res.partner_7"),
            ChannelName::Presence {
                model: PresenceModel::Partner,
                id: 7,
                token: None
            }
        );
        assert_eq!(
            ok("odoo-presence-mail.guest_3"),
            ChannelName::Presence {
                model: PresenceModel::Guest,
                id: 3,
                token: None
            }
        );
        assert_eq!(
            ok("odoo-presence-res.partner_07").canonical(),
            "odoo-presence-res.partner_7"
        );
        let with_token = ok("odoo-presence-mail.guest_3-ab12");
        assert_eq!(
            with_token,
            ChannelName::Presence {
                model: PresenceModel::Guest,
                id: 3,
                token: Some("ab12")
            }
        );
        assert_eq!(with_token.canonical(), "odoo-presence-mail.guest_3-ab12");
        // A presence name is never read as a discuss channel.
        assert!(matches!(
            ok("odoo-presence-res.partner_7"),
            ChannelName::Presence { .. }
        ));
    }

    #[test]
    fn presence_names_that_void_the_subscription_are_refused() {
        for name in [
            "odoo-presence-res.partner_abc",
            "odoo-presence-res.partner_",
            "odoo-presence-res.partner_x_8",
            "odoo-presence-res.partner_ 7",
            "odoo-presence-mail.guest_x1",
            "odoo-presence-res.partner_0x10",
        ] {
            assert!(refused(name).contains("must be a number"), "{name}");
        }
        assert!(refused("odoo-presence-res.partner").contains("without _<id>"));
        assert!(refused("odoo-presence-res.partner_7_8").contains("after the id"));
        assert!(refused("odoo-presence-hr.employee_3").contains("unknown presence model"));
        assert!(refused("odoo-presence-res.partner_7-").contains("token"));
        assert!(refused("odoo-presence-res.partner_7-a.b").contains("token"));
        assert!(refused("odoo-presence-res.partner_0").contains("ids start at 1"));
        assert!(refused("odoo-presence-res.partner_4294967296").contains("integer ids"));
    }

    #[test]
    fn guest_tokens() {
        assert_eq!(
            ok("mail.guest_5|f3a9-77"),
            ChannelName::GuestToken {
                guest_id: 5,
                token: "f3a9-77"
            }
        );
        assert_eq!(ok("mail.guest_05|t").canonical(), "mail.guest_5|t");
        assert!(refused("mail.guest_5").contains("without |<token>"));
        assert!(refused("mail.guest_abc|t").contains("must be a number"));
        assert!(refused("mail.guest_|t").contains("must be a number"));
        assert!(refused("mail.guest_5|").contains("non-empty"));
        // `_` in the token: the server cuts it, and `x_discuss.channel_3` would even make it
        // remove the string twice (a ValueError that voids the subscription).
        assert!(refused("mail.guest_5|a_discuss.channel_3").contains("neither _ nor |"));
        assert!(refused("mail.guest_5|a|b").contains("neither _ nor |"));
    }

    #[test]
    fn the_token_suffix_needs_odoo_19() {
        let name = ok("odoo-presence-res.partner_7-abc");
        let e = name.check_server(Some(18)).unwrap_err().to_string();
        assert!(e.contains("Odoo 19") && e.contains("Odoo 18"), "{e}");
        assert!(name.check_server(None).is_err());
        assert!(name.check_server(Some(19)).is_ok());
        assert!(
            ok("odoo-presence-res.partner_7")
                .check_server(Some(18))
                .is_ok()
        );
        assert!(ok("discuss.channel_7").check_server(Some(17)).is_ok());
    }

    #[test]
    fn canonical_forms_parse_back_to_themselves() {
        for name in [
            "discuss.channel_9",
            "x discuss.channel_0012 y",
            "odoo-presence-res.partner_0042",
            "odoo-presence-mail.guest_1-ff",
            "mail.guest_003|tok",
            "plain",
        ] {
            let parsed = ok(name);
            let canonical = parsed.canonical();
            assert_eq!(ok(&canonical), parsed, "{name} -> {canonical}");
            assert_eq!(ok(&canonical).canonical(), canonical);
        }
    }

    #[test]
    fn parsing_never_panics_on_odd_input() {
        let pieces = [
            "",
            "_",
            "-",
            "|",
            "0",
            "9",
            "٣",
            "é",
            " ",
            "odoo-presence-",
            "mail.guest_",
            "discuss.channel_",
            "res.partner",
            "mail.guest",
            "99999999999",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}");
                    if let Ok(parsed) = ChannelName::parse(&s) {
                        assert_eq!(ChannelName::parse(&parsed.canonical()), Ok(parsed), "{s:?}");
                    }
                }
            }
        }
    }
}
