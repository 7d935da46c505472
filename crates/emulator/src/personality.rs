//! Odoo version personalities: every way Odoo 16, 17 (early and late), 18 and 19 differ as a bus
//! client can observe them, kept here and nowhere else. The rest of the emulator asks
//! [`OdooVersion`] ("which chat model?", "which presence shape?") instead of testing versions.
//!
//! Facts come from the real servers (captured traffic and live queries), then
//! docs/protocol §8, then each version's source. This module owns the answers, not the plumbing:
//! it builds payloads from values the caller hands it and never touches the shared state.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Value, json};

mod shapes;
pub use shapes::{Msg, Note, Person, To, Typing, fake_token};

/// One Odoo release line as a client sees it. 17.0 comes in two: the early builds (2024) have no
/// websocket worker version and announce presence as `mail.record/insert` `Persona`; the late
/// ones (2025) carry `"17.0-1"` and behave like 18 for presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum OdooVersion {
    V16,
    V17Early,
    V17Late,
    #[default]
    V18,
    V19,
}

impl OdooVersion {
    /// Every personality, oldest first (the order of the test matrix).
    pub const ALL: [OdooVersion; 5] = [
        OdooVersion::V16,
        OdooVersion::V17Early,
        OdooVersion::V17Late,
        OdooVersion::V18,
        OdooVersion::V19,
    ];

    /// How a person names it: `16.0`, `17.0 (early)`, `17.0 (late)`, `18.0`, `19.0`.
    pub fn label(self) -> &'static str {
        match self {
            OdooVersion::V16 => "16.0",
            OdooVersion::V17Early => "17.0 (early)",
            OdooVersion::V17Late => "17.0 (late)",
            OdooVersion::V18 => "18.0",
            OdooVersion::V19 => "19.0",
        }
    }

    /// The value `--odoo-version` takes for it (`16`, `17-early`, `17`, `18`, `19`).
    pub fn arg(self) -> &'static str {
        match self {
            OdooVersion::V16 => "16",
            OdooVersion::V17Early => "17-early",
            OdooVersion::V17Late => "17",
            OdooVersion::V18 => "18",
            OdooVersion::V19 => "19",
        }
    }

    /// `server_version_info[0]`.
    pub fn major(self) -> u8 {
        match self {
            OdooVersion::V16 => 16,
            OdooVersion::V17Early | OdooVersion::V17Late => 17,
            OdooVersion::V18 => 18,
            OdooVersion::V19 => 19,
        }
    }

    /// `server_version` as the live servers report it (a dated build on 16 and early 17, the
    /// enterprise build string on 19).
    pub fn server_version(self) -> &'static str {
        match self {
            OdooVersion::V16 => "16.0-20230301",
            OdooVersion::V17Early => "17.0-20240709",
            OdooVersion::V17Late => "17.0",
            OdooVersion::V18 => "18.0",
            OdooVersion::V19 => "19.0+e-20251227",
        }
    }

    /// `version_info.server_serie`: always `<major>.0`.
    pub fn server_serie(self) -> String {
        format!("{}.0", self.major())
    }

    /// `server_version_info`; 19's enterprise build ends in `"e"`.
    pub fn server_version_info(self) -> Value {
        let tail = if self == OdooVersion::V19 { "e" } else { "" };
        json!([self.major(), 0, 0, "final", 0, tail])
    }

    /// `session_info.websocket_worker_version`: absent on 16 and early 17 (their `/websocket`
    /// takes no `?version=` and never answers `OUTDATED_VERSION`).
    pub fn websocket_worker_version(self) -> Option<&'static str> {
        match self {
            OdooVersion::V16 | OdooVersion::V17Early => None,
            OdooVersion::V17Late => Some("17.0-1"),
            OdooVersion::V18 => Some("18.0-2"),
            OdooVersion::V19 => Some("19.0-2"),
        }
    }

    /// The chat channel model: `mail.channel` on 16, `discuss.channel` from 17 on.
    pub fn chat_model(self) -> &'static str {
        match self {
            OdooVersion::V16 => "mail.channel",
            _ => "discuss.channel",
        }
    }

    /// Whether `subscribe` finds `discuss.channel_<N>` in the client's strings (17 on). 16 has
    /// no channel strings: a member's `mail.channel`s come by default, any string is inert.
    pub fn parses_chat_strings(self) -> bool {
        self != OdooVersion::V16
    }

    /// The subchannel added for each chat channel: `members` (17, 18; only for channels the
    /// client did not name), `internal_users` (19; every channel, internal users only), none on
    /// 16.
    pub fn chat_subchannel(self) -> Option<&'static str> {
        match self {
            OdooVersion::V16 => None,
            OdooVersion::V19 => Some("internal_users"),
            _ => Some("members"),
        }
    }

    /// Whether the user's groups are default channels (18 on).
    pub fn subscribes_groups(self) -> bool {
        self >= OdooVersion::V18
    }

    /// How `odoo-presence-…` strings are read at subscribe time.
    pub fn presence_channels(self) -> PresenceChannels {
        match self {
            OdooVersion::V16 | OdooVersion::V17Early => PresenceChannels::None,
            OdooVersion::V17Late | OdooVersion::V18 => PresenceChannels::SharedChannel,
            OdooVersion::V19 => PresenceChannels::Tokens,
        }
    }

    /// Whether presence is pulled (16, early 17: `update_presence` names the partners and the
    /// answer comes on the asker's partner channel) rather than pushed on presence channels.
    pub fn presence_is_pulled(self) -> bool {
        self <= OdooVersion::V17Early
    }

    /// The `update_presence` data keys the server's handler takes as keyword arguments: both up
    /// to 18, `inactivity_period` alone on 19 (`_update_mail_presence(**data)`).
    pub fn update_presence_keys(self) -> &'static [&'static str] {
        match self {
            OdooVersion::V19 => &["inactivity_period"],
            _ => &["inactivity_period", "im_status_ids_by_model"],
        }
    }

    /// The typing route: `/mail/channel/notify_typing` on 16, `/discuss/channel/notify_typing`
    /// after.
    pub fn typing_path(self) -> &'static str {
        match self {
            OdooVersion::V16 => "/mail/channel/notify_typing",
            _ => "/discuss/channel/notify_typing",
        }
    }

    /// Routes only 19 has: `/bus/has_missed_notifications`, `/mail/set_manual_im_status`.
    pub fn has_19_routes(self) -> bool {
        self == OdooVersion::V19
    }

    /// Whether `/websocket/on_closed` exists (late 17 on: it came with pushed presence).
    pub fn has_on_closed(self) -> bool {
        self >= OdooVersion::V17Late
    }

    /// Whether a socket closing sets its user offline at once (late 17 on). On 16 and early 17
    /// the user stays "online" until the presence row is older than [`PULL_OFFLINE_AFTER`].
    pub fn offline_on_close(self) -> bool {
        !self.presence_is_pulled()
    }

    /// Whether a 1-byte `0x00` frame is the documented liveness probe (19) rather than a
    /// message that fails to parse and is logged as an error (16 to 18). Silent either way.
    pub fn ignores_zero_frame(self) -> bool {
        self == OdooVersion::V19
    }

    /// Cookies `/web/session/destroy` deletes besides rotating the session (measured: none on
    /// 16, `cids` on 17 and 18, `cids` and `color_scheme` on 19).
    pub fn destroy_clears_cookies(self) -> &'static [&'static str] {
        match self {
            OdooVersion::V16 => &[],
            OdooVersion::V19 => &["cids", "color_scheme"],
            _ => &["cids"],
        }
    }

    /// 19's `/web/session/authenticate` sends its session cookie twice (measured).
    pub fn authenticate_sets_cookie_twice(self) -> bool {
        self == OdooVersion::V19
    }

    /// Whether the server keeps a device log (18 on), which re-saves the session (and re-sends
    /// its cookie) on the first authenticated request from a browser and address.
    pub fn logs_devices(self) -> bool {
        self >= OdooVersion::V18
    }

    /// Session id length: 40 characters on 16 and 17, 84 from 18 on (measured).
    pub fn sid_len(self) -> usize {
        if self <= OdooVersion::V17Late { 40 } else { 84 }
    }

    /// Whether the server, closing with `code`, waits for the client's close frame before
    /// dropping TCP: for 1000, 1001 and 1012 up to 18; for every code but 1006 and 4003
    /// (`KILL_NOW`, new in 19: "do not reconnect at once") on 19.
    pub fn waits_for_client_close(self, code: u16) -> bool {
        match self {
            OdooVersion::V19 => code != 1006 && code != 4003,
            _ => [1000, 1001, 1012].contains(&code),
        }
    }

    /// Whether closing with `code` sends a close frame at all: on 19, `KILL_NOW` (4003) and
    /// 1006 go straight to `_terminate()` (the TCP connection just ends; nothing in 19 itself
    /// closes with 4003, and its browser worker calls 4003 `RECONNECTING`). Always before 19.
    pub fn sends_close_frame(self, code: u16) -> bool {
        self != OdooVersion::V19 || (code != 4003 && code != 1006)
    }

    /// 19 rotates the session id every 3 hours; older versions never on their own.
    pub fn sid_rotation(self) -> Option<Duration> {
        (self == OdooVersion::V19).then(|| Duration::from_secs(3 * 3600))
    }

    /// Server PING after this long without traffic: 45 s up to 18, 40 s on 19 (its loop ticks
    /// every 15 s and pings once the socket was idle 40 s).
    pub fn idle_ping(self) -> Duration {
        match self {
            OdooVersion::V19 => Duration::from_secs(40),
            _ => Duration::from_secs(45),
        }
    }

    /// The keys of `session_info` for an internal user, in the server's order (measured on each
    /// live server for admin). Keys [`INTERNAL_ONLY_KEYS`] lists are left out for portal users.
    pub fn session_info_keys(self) -> &'static [&'static str] {
        match self {
            OdooVersion::V16 => &[
                "uid",
                "is_system",
                "is_admin",
                "user_context",
                "db",
                "server_version",
                "server_version_info",
                "support_url",
                "name",
                "username",
                "partner_display_name",
                "company_id",
                "partner_id",
                "web.base.url",
                "active_ids_limit",
                "profile_session",
                "profile_collectors",
                "profile_params",
                "max_file_upload_size",
                "home_action_id",
                "cache_hashes",
                "currencies",
                "bundle_params",
                "user_companies",
                "show_effect",
                "display_switch_company_menu",
                "user_id",
                "web_tours",
                "tour_disable",
                "notification_type",
                "odoobot_initialized",
                "iap_company_enrich",
            ],
            OdooVersion::V17Early => &[
                "uid",
                "is_system",
                "is_admin",
                "is_internal_user",
                "user_context",
                "db",
                "user_settings",
                "server_version",
                "server_version_info",
                "support_url",
                "name",
                "username",
                "partner_display_name",
                "partner_id",
                "web.base.url",
                "active_ids_limit",
                "profile_session",
                "profile_collectors",
                "profile_params",
                "max_file_upload_size",
                "home_action_id",
                "cache_hashes",
                "currencies",
                "bundle_params",
                "user_companies",
                "show_effect",
                "display_switch_company_menu",
                "user_id",
                "web_tours",
                "tour_disable",
                "notification_type",
                "odoobot_initialized",
                "iap_company_enrich",
            ],
            OdooVersion::V17Late => &[
                "uid",
                "is_system",
                "is_admin",
                "is_public",
                "is_internal_user",
                "user_context",
                "db",
                "user_settings",
                "server_version",
                "server_version_info",
                "support_url",
                "name",
                "username",
                "partner_display_name",
                "partner_id",
                "web.base.url",
                "active_ids_limit",
                "profile_session",
                "profile_collectors",
                "profile_params",
                "max_file_upload_size",
                "home_action_id",
                "cache_hashes",
                "currencies",
                "bundle_params",
                "user_companies",
                "show_effect",
                "display_switch_company_menu",
                "user_id",
                "websocket_worker_version",
                "web_tours",
                "tour_disable",
                "notification_type",
                "odoobot_initialized",
                "iap_company_enrich",
            ],
            OdooVersion::V18 => &[
                "uid",
                "is_system",
                "is_admin",
                "is_public",
                "is_internal_user",
                "user_context",
                "db",
                "user_settings",
                "server_version",
                "server_version_info",
                "support_url",
                "name",
                "username",
                "partner_write_date",
                "partner_display_name",
                "partner_id",
                "web.base.url",
                "active_ids_limit",
                "profile_session",
                "profile_collectors",
                "profile_params",
                "max_file_upload_size",
                "home_action_id",
                "cache_hashes",
                "currencies",
                "bundle_params",
                "test_mode",
                "view_info",
                "user_companies",
                "show_effect",
                "display_switch_company_menu",
                "websocket_worker_version",
                "tour_enabled",
                "current_tour",
                "storeData",
                "odoobot_initialized",
                "iap_company_enrich",
            ],
            OdooVersion::V19 => &[
                "uid",
                "is_system",
                "is_admin",
                "is_public",
                "is_internal_user",
                "user_context",
                "db",
                "registry_hash",
                "user_settings",
                "server_version",
                "server_version_info",
                "support_url",
                "name",
                "username",
                "quick_login",
                "partner_write_date",
                "partner_display_name",
                "partner_id",
                "web.base.url",
                "active_ids_limit",
                "profile_session",
                "profile_collectors",
                "profile_params",
                "max_file_upload_size",
                "home_action_id",
                "currencies",
                "bundle_params",
                "test_mode",
                "view_info",
                "groups",
                "user_companies",
                "show_effect",
                "websocket_worker_version",
                "tour_enabled",
                "current_tour",
                "warning",
                "expiration_date",
                "expiration_reason",
                "map_box_token",
                "storeData",
                "ocn_token_key",
                "fcm_project_id",
                "inbox_action",
                "iap_company_enrich",
            ],
        }
    }
}

/// `session_info` keys only internal users get (`web`'s `session_info` override).
pub const INTERNAL_ONLY_KEYS: &[&str] = &[
    "user_companies",
    "show_effect",
    "display_switch_company_menu",
];

/// How a version treats `odoo-presence-<model>_<id>` strings in `subscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceChannels {
    /// No presence channels (16, early 17): the string is an inert channel like any other.
    None,
    /// Late 17 and 18: internal users, or anyone sharing a channel with the partner; a
    /// non-numeric id voids the whole subscription.
    SharedChannel,
    /// 19: `res.partner_<id>` optionally `-<token>`; a malformed string is skipped (a warning
    /// in the server log), and the user's own presence channel is always added.
    Tokens,
}

/// 16 and early 17 report a user offline once their presence was not refreshed for this long
/// (measured: still "online" 3 s after the socket closed, "offline" after 70 s).
pub const PULL_OFFLINE_AFTER: Duration = Duration::from_secs(65);

/// `session_info` keys only administrators get (measured: demo lacks them on every version).
pub const SYSTEM_ONLY_KEYS: &[&str] = &["web_tours", "tour_disable", "iap_company_enrich"];

impl fmt::Display for OdooVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for OdooVersion {
    type Err = String;

    /// `16`, `17` (late 17.0), `17-early`, `17-late`, `18`, `19`, each also with `.0`
    /// (`16.0`, `17.0`, `17.0-early`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.replace(".0", "");
        let t = t.replace(['_', ' '], "-");
        match t.as_str() {
            "16" => Ok(OdooVersion::V16),
            "17-early" | "17early" | "17e" => Ok(OdooVersion::V17Early),
            "17" | "17-late" | "17late" | "17l" => Ok(OdooVersion::V17Late),
            "18" => Ok(OdooVersion::V18),
            "19" => Ok(OdooVersion::V19),
            _ => Err(format!(
                "unknown Odoo version {s:?}: use 16, 17, 17-early, 17-late, 18 or 19"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_every_spelling() {
        for (s, v) in [
            ("16", OdooVersion::V16),
            ("16.0", OdooVersion::V16),
            ("17", OdooVersion::V17Late),
            ("17.0", OdooVersion::V17Late),
            ("17-late", OdooVersion::V17Late),
            ("17-early", OdooVersion::V17Early),
            ("17.0-early", OdooVersion::V17Early),
            ("18", OdooVersion::V18),
            ("18.0", OdooVersion::V18),
            ("19", OdooVersion::V19),
            (" 19.0 ", OdooVersion::V19),
        ] {
            assert_eq!(s.parse::<OdooVersion>(), Ok(v), "{s}");
        }
        for bad in ["15", "", "17-middle", "eighteen", "1.6"] {
            assert!(bad.parse::<OdooVersion>().is_err(), "{bad}");
        }
        for v in OdooVersion::ALL {
            assert_eq!(v.arg().parse::<OdooVersion>(), Ok(v));
        }
    }

    #[test]
    fn worker_version_and_its_key_go_together() {
        for v in OdooVersion::ALL {
            assert_eq!(
                v.websocket_worker_version().is_some(),
                v.session_info_keys().contains(&"websocket_worker_version"),
                "{v}"
            );
        }
        assert_eq!(OdooVersion::default(), OdooVersion::V18);
    }
}
