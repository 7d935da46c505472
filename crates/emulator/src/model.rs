//! The emulated database: users, partners, groups, discuss channels, sessions, presences.
//!
//! Ids, names and e-mails mirror a real Odoo 18 database created with `-i mail` and demo data
//! (admin = uid 2 / partner 3 "Mitchell Admin", demo = uid 6 / partner 7 "Marc Demo", channel 1
//! "general"), so output recorded against the emulator reads like output from a real server.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngExt;

use super::bus::{Bus, Channel};
use super::time;

/// `base.group_user` (measured: `internalUserGroupId: 1`).
pub const GROUP_USER: i64 = 1;
/// `base.group_system` (Settings): reads every discuss channel.
pub const GROUP_SYSTEM: i64 = 4;
/// `base.group_portal`.
pub const GROUP_PORTAL: i64 = 10;
/// `base.group_public`: the groups of an anonymous session.
pub const GROUP_PUBLIC: i64 = 11;

/// The public user (`base.public_user`) and its partner.
pub const PUBLIC_UID: i64 = 4;
pub const PUBLIC_PARTNER: i64 = 4;
/// OdooBot's partner.
pub const ODOOBOT_PARTNER: i64 = 2;

/// What a test asks for when it adds a user.
#[derive(Debug, Clone)]
pub struct UserSpec {
    pub login: String,
    pub password: String,
    pub name: String,
    /// Internal user (`base.group_user`) or portal user.
    pub internal: bool,
    /// A 2FA user: the 6-digit code `/web/login/totp` accepts. No real TOTP maths.
    pub totp_code: Option<String>,
}

impl UserSpec {
    /// An internal user without 2FA.
    pub fn internal(login: &str, password: &str, name: &str) -> Self {
        UserSpec {
            login: login.into(),
            password: password.into(),
            name: name.into(),
            internal: true,
            totp_code: None,
        }
    }
}

/// The ids of a new user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserIds {
    pub uid: i64,
    pub partner_id: i64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub uid: i64,
    pub login: String,
    pub password: String,
    pub partner_id: i64,
    pub internal: bool,
    pub totp_code: Option<String>,
    pub groups: Vec<i64>,
    /// Stands for the password hash / TOTP secret that `session_token` is an HMAC of: bumping it
    /// makes every session of the user stale, like a password change.
    pub security_stamp: u64,
}

impl User {
    pub fn is_system(&self) -> bool {
        self.groups.contains(&GROUP_SYSTEM)
    }
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub name: String,
    /// `display_name` (company contacts read "YourCompany, Mitchell Admin").
    pub display_name: String,
    pub email: String,
    pub user_id: Option<i64>,
    pub write_date: String,
}

/// The four kinds of discuss channels, as far as access and `channel_type` go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// `channel` open to internal users (`group_public_id = base.group_user`), like "general".
    Public,
    /// `channel` restricted to its members.
    Private,
    /// `group` conversation: members only.
    Group,
    /// `chat` (direct message): members only.
    Chat,
}

impl ChannelKind {
    pub fn channel_type(self) -> &'static str {
        match self {
            ChannelKind::Public | ChannelKind::Private => "channel",
            ChannelKind::Group => "group",
            ChannelKind::Chat => "chat",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: i64,
    pub partner_id: i64,
    pub create_date: String,
}

#[derive(Debug, Clone)]
pub struct DiscussChannel {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    /// For `channel`-type channels: readable by this group's users (None: every internal user).
    pub group_public_id: Option<i64>,
    pub members: Vec<Member>,
    /// The newest message posted (members' `seen_message_id` in typing payloads).
    pub last_message_id: Option<i64>,
}

impl DiscussChannel {
    pub fn member_of(&self, partner_id: i64) -> Option<&Member> {
        self.members.iter().find(|m| m.partner_id == partner_id)
    }
}

/// A server-side session (Odoo's session file).
#[derive(Debug, Clone)]
pub struct Session {
    pub db: Option<String>,
    pub uid: Option<i64>,
    pub login: Option<String>,
    /// Half-authenticated (2FA pending).
    pub pre_uid: Option<i64>,
    /// The user's security stamp when the session was finalised.
    pub token: u64,
    /// Set by `peek_notifications(is_first_poll=True)`.
    pub websocket_session: bool,
    /// When the sid was issued (19 rotates it after [`crate::EmulatorConfig::session_rotation`]).
    pub created: Instant,
    /// After a soft rotation: the sid that replaced this one, and when this one is deleted.
    pub next_sid: Option<(String, Instant)>,
    /// 18+'s device log: when each `user-agent|address` was last traced.
    pub device_traces: HashMap<String, Instant>,
}

impl Session {
    pub fn anonymous(db: Option<String>) -> Self {
        Session {
            db,
            uid: None,
            login: None,
            pre_uid: None,
            token: 0,
            websocket_session: false,
            created: Instant::now(),
            next_sid: None,
            device_traces: HashMap::new(),
        }
    }
}

/// Who a session stands for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No such session (never existed, deleted, rotated away).
    Missing,
    /// Exists, nobody logged in (includes a pending 2FA login).
    Public,
    /// Logged in, but the user's security stamp changed since: a password change, a logout.
    Stale(i64),
    User(i64),
}

/// A `bus.presence` row.
#[derive(Debug, Clone)]
pub struct Presence {
    pub status: &'static str,
    pub last_poll: Instant,
    /// 19's `manual_im_status` (away, busy, offline): what others see while connected.
    pub manual: Option<&'static str>,
}

/// Odoo's `(failures, last_failure)` per client address.
#[derive(Debug, Clone, Copy)]
pub struct LoginFailures {
    pub count: u32,
    pub last: Instant,
}

/// The whole emulated database.
#[derive(Debug)]
pub struct Db {
    pub name: String,
    pub users: BTreeMap<i64, User>,
    pub partners: BTreeMap<i64, Partner>,
    pub channels: BTreeMap<i64, DiscussChannel>,
    pub sessions: HashMap<String, Session>,
    pub presence: HashMap<i64, Presence>,
    pub login_failures: HashMap<IpAddr, LoginFailures>,
    pub bus: Bus,
    /// Highest id handed to a flood (never stored as rows).
    pub flood_max: u64,
    /// Session id length for this version (see [`new_sid`]).
    pub sid_len: usize,
    pub next_uid: i64,
    pub next_partner: i64,
    pub next_channel: i64,
    pub next_member: i64,
    pub next_message: i64,
    /// Key of the CSRF "HMAC" (stands for `database.secret`).
    pub csrf_key: u64,
}

impl Db {
    /// The seed: OdooBot, admin, the public user, demo, and "general" with admin and demo.
    pub fn seed(name: &str) -> Self {
        let stamp = time::odoo_now();
        let mut db = Db {
            name: name.to_string(),
            users: BTreeMap::new(),
            partners: BTreeMap::new(),
            channels: BTreeMap::new(),
            sessions: HashMap::new(),
            presence: HashMap::new(),
            login_failures: HashMap::new(),
            bus: Bus::default(),
            flood_max: 0,
            sid_len: 84,
            next_uid: 7,
            next_partner: 8,
            next_channel: 2,
            next_member: 4,
            next_message: 21,
            csrf_key: rand::rng().random(),
        };
        let partner = |id: i64, name: &str, email: &str, user_id: Option<i64>| Partner {
            name: name.into(),
            display_name: if id == 3 || id == 7 {
                format!("YourCompany, {name}")
            } else {
                name.into()
            },
            email: email.into(),
            user_id,
            write_date: stamp.clone(),
        };
        db.partners
            .insert(1, partner(1, "YourCompany", "info@yourcompany.com", None));
        db.partners.insert(
            ODOOBOT_PARTNER,
            partner(2, "OdooBot", "odoobot@example.com", Some(1)),
        );
        db.partners.insert(
            3,
            partner(
                3,
                "Mitchell Admin",
                "admin@yourcompany.example.com",
                Some(2),
            ),
        );
        db.partners.insert(
            PUBLIC_PARTNER,
            partner(4, "Public user", "", Some(PUBLIC_UID)),
        );
        db.partners.insert(
            7,
            partner(7, "Marc Demo", "mark.brown23@example.com", Some(6)),
        );
        let user =
            |uid: i64, login: &str, password: &str, partner_id: i64, groups: Vec<i64>| User {
                uid,
                login: login.into(),
                password: password.into(),
                partner_id,
                internal: groups.contains(&GROUP_USER),
                totp_code: None,
                groups,
                security_stamp: 1,
            };
        db.users.insert(
            2,
            // admin's groups as `peek_notifications` lists them on the real database.
            user(
                2,
                "admin",
                "admin",
                3,
                vec![GROUP_USER, 2, 3, GROUP_SYSTEM, 7, 8, 9, 12, 13],
            ),
        );
        db.users.insert(
            PUBLIC_UID,
            user(PUBLIC_UID, "public", "", PUBLIC_PARTNER, vec![GROUP_PUBLIC]),
        );
        db.users
            .insert(6, user(6, "demo", "demo", 7, vec![GROUP_USER]));
        // The channels of the real demo database: (id, name, group_public_id, member uids).
        let seed_channels: [(i64, &str, Option<i64>, &[i64]); 8] = [
            (1, "general", Some(GROUP_USER), &[2, 6]),
            (2, "Administrators", Some(GROUP_SYSTEM), &[2]),
            (3, "sales", Some(GROUP_USER), &[]),
            (4, "board-meetings", Some(GROUP_USER), &[]),
            (5, "rd", Some(GROUP_USER), &[]),
            (6, "Welcome to the #general channel", None, &[2]),
            (7, "Ideas & Suggestions", None, &[2, 6]),
            (8, "Troubleshooting", None, &[2, 6]),
        ];
        // Member 2 is admin in "general" (measured); the rest follow in order.
        db.next_member = 2;
        for (id, name, group, members) in seed_channels {
            db.next_channel = id;
            db.add_channel_with_group(name, ChannelKind::Public, group, members);
        }
        db
    }

    pub fn add_user(&mut self, spec: &UserSpec) -> UserIds {
        let uid = self.next_uid;
        self.next_uid += 1;
        let partner_id = self.next_partner;
        self.next_partner += 1;
        let email = if spec.login.contains('@') {
            spec.login.clone()
        } else {
            format!("{}@example.com", spec.login)
        };
        self.partners.insert(
            partner_id,
            Partner {
                name: spec.name.clone(),
                display_name: spec.name.clone(),
                email,
                user_id: Some(uid),
                write_date: time::odoo_now(),
            },
        );
        self.users.insert(
            uid,
            User {
                uid,
                login: spec.login.clone(),
                password: spec.password.clone(),
                partner_id,
                internal: spec.internal,
                totp_code: spec.totp_code.clone(),
                groups: vec![if spec.internal {
                    GROUP_USER
                } else {
                    GROUP_PORTAL
                }],
                security_stamp: 1,
            },
        );
        UserIds { uid, partner_id }
    }

    pub fn add_channel(&mut self, name: &str, kind: ChannelKind, member_uids: &[i64]) -> i64 {
        let group = (kind == ChannelKind::Public).then_some(GROUP_USER);
        self.add_channel_with_group(name, kind, group, member_uids)
    }

    fn add_channel_with_group(
        &mut self,
        name: &str,
        kind: ChannelKind,
        group_public_id: Option<i64>,
        member_uids: &[i64],
    ) -> i64 {
        let id = self.next_channel;
        self.next_channel += 1;
        let mut members = Vec::new();
        for uid in member_uids {
            if let Some(u) = self.users.get(uid)
                && !members
                    .iter()
                    .any(|m: &Member| m.partner_id == u.partner_id)
            {
                members.push(Member {
                    id: self.next_member,
                    partner_id: u.partner_id,
                    create_date: time::odoo_now(),
                });
                self.next_member += 1;
            }
        }
        self.channels.insert(
            id,
            DiscussChannel {
                id,
                name: name.into(),
                kind,
                group_public_id,
                members,
                last_message_id: None,
            },
        );
        id
    }

    /// Make a user a member of a channel (no-op if already one or unknown).
    pub fn add_member(&mut self, channel_id: i64, uid: i64) {
        let Some(partner_id) = self.partner_of(uid) else {
            return;
        };
        let next = self.next_member;
        if let Some(c) = self.channels.get_mut(&channel_id)
            && c.member_of(partner_id).is_none()
        {
            c.members.push(Member {
                id: next,
                partner_id,
                create_date: time::odoo_now(),
            });
            self.next_member += 1;
        }
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.login == login && u.uid != PUBLIC_UID)
    }

    /// The user's `res.users.settings` id (demo data: admin 1, demo 2).
    pub fn settings_id(&self, uid: i64) -> i64 {
        match self.users.get(&uid).map(|u| u.login.as_str()) {
            Some("admin") => 1,
            Some("demo") => 2,
            _ => uid,
        }
    }

    pub fn partner_of(&self, uid: i64) -> Option<i64> {
        self.users.get(&uid).map(|u| u.partner_id)
    }

    pub fn partner_name(&self, partner_id: i64) -> String {
        self.partners
            .get(&partner_id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    /// Mint a logged-in session directly (what a finished login leaves behind).
    pub fn create_session(&mut self, uid: i64) -> Option<String> {
        let user = self.users.get(&uid)?;
        let session = Session {
            db: Some(self.name.clone()),
            uid: Some(uid),
            login: Some(user.login.clone()),
            pre_uid: None,
            token: user.security_stamp,
            websocket_session: false,
            created: Instant::now(),
            next_sid: None,
            device_traces: HashMap::new(),
        };
        let sid = new_sid(self.sid_len);
        self.sessions.insert(sid.clone(), session);
        Some(sid)
    }

    pub fn auth(&self, sid: &str) -> Auth {
        match self.sessions.get(sid) {
            None => Auth::Missing,
            Some(s) => match s.uid {
                None => Auth::Public,
                Some(uid) => match self.users.get(&uid) {
                    Some(u) if u.security_stamp == s.token => Auth::User(uid),
                    _ => Auth::Stale(uid),
                },
            },
        }
    }

    /// 19's soft rotation, applied when a request arrives with `sid`: a logged-in session older
    /// than `period` gets a successor (the answer's cookie carries it); the old sid keeps
    /// working, as the successor, for `grace`, then is deleted. Returns the sid to answer with.
    pub fn rotation_step(
        &mut self,
        sid: &str,
        now: Instant,
        period: Option<Duration>,
        grace: Duration,
    ) -> String {
        let Some(session) = self.sessions.get(sid) else {
            return sid.to_string();
        };
        if let Some((next, delete_at)) = session.next_sid.clone() {
            if now >= delete_at {
                self.sessions.remove(sid);
                return sid.to_string();
            }
            return self.rotation_step(&next, now, period, grace);
        }
        let due = period.is_some_and(|p| now.saturating_duration_since(session.created) >= p);
        if session.uid.is_none() || !due {
            return sid.to_string();
        }
        let mut successor = session.clone();
        successor.created = now;
        // Odoo keeps the first half (the identifier) and renews the second.
        let keep = sid.len() / 2;
        let next = format!("{}{}", &sid[..keep], &new_sid(self.sid_len)[keep..]);
        if let Some(old) = self.sessions.get_mut(sid) {
            old.next_sid = Some((next.clone(), now + grace));
        }
        self.sessions.insert(next.clone(), successor);
        next
    }

    /// The sid a websocket should now use: the successor of a rotated one (19's sockets follow
    /// `next_sid` themselves), else itself.
    pub fn follow(&self, sid: &str) -> String {
        match self.sessions.get(sid).and_then(|s| s.next_sid.as_ref()) {
            Some((next, _)) => self.follow(next),
            None => sid.to_string(),
        }
    }

    /// Move a session to a fresh sid (Odoo rotates at login, logout and destroy); the old sid
    /// stops existing, so sockets still holding it close with 4001.
    pub fn rotate(&mut self, old: &str, session: Session) -> String {
        self.sessions.remove(old);
        let sid = new_sid(self.sid_len);
        self.sessions.insert(sid.clone(), session);
        sid
    }

    /// Read access to a discuss channel (`ir_rule_discuss_channel_all` + group_system).
    pub fn can_read_channel(&self, uid: Option<i64>, channel_id: i64) -> bool {
        let (Some(user), Some(channel)) = (
            uid.and_then(|u| self.users.get(&u)),
            self.channels.get(&channel_id),
        ) else {
            return false;
        };
        if user.uid == PUBLIC_UID {
            return false;
        }
        if user.is_system() || channel.member_of(user.partner_id).is_some() {
            return true;
        }
        channel.kind == ChannelKind::Public
            && match channel.group_public_id {
                Some(group) => user.groups.contains(&group),
                None => user.internal,
            }
    }

    /// A channel by name.
    pub fn channel_by_name(&self, name: &str) -> Option<i64> {
        self.channels
            .values()
            .find(|c| c.name == name)
            .map(|c| c.id)
    }

    /// The implicit channels of a socket: broadcast, the user's groups and own partner.
    pub fn base_channels(&self, uid: Option<i64>) -> Vec<Channel> {
        let mut out = vec![Channel::broadcast()];
        match uid.and_then(|u| self.users.get(&u)) {
            Some(user) => {
                out.extend(user.groups.iter().map(|g| Channel::group(*g)));
                out.push(Channel::partner(user.partner_id));
            }
            None => out.push(Channel::group(GROUP_PUBLIC)),
        }
        out
    }

    /// `res.users._assert_can_auth`: true while the address is on cooldown.
    pub fn on_cooldown(&self, ip: IpAddr, after: u32, duration: Duration, now: Instant) -> bool {
        match self.login_failures.get(&ip) {
            Some(f) if after > 0 => {
                f.count >= after && now.saturating_duration_since(f.last) < duration
            }
            _ => false,
        }
    }

    pub fn record_login_failure(&mut self, ip: IpAddr, now: Instant) {
        let entry = self.login_failures.entry(ip).or_insert(LoginFailures {
            count: 0,
            last: now,
        });
        entry.count += 1;
        entry.last = now;
    }
}

/// A new session id: 63 random bytes, URL-safe base64, 84 characters (Odoo's `generate_key`).
/// A fresh session id of `len` characters (84 from 18 on, 40 on 16 and 17, as measured).
pub fn new_sid(len: usize) -> String {
    let mut bytes = vec![0u8; len * 3 / 4];
    rand::rng().fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `FilesystemSessionStore.is_valid_key` for sids of `len` characters.
pub fn is_valid_sid(sid: &str, len: usize) -> bool {
    sid.len() == len
        && sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_odoos_shape() {
        for len in [84, 40] {
            let sid = new_sid(len);
            assert!(is_valid_sid(&sid, len), "{sid}");
            assert_ne!(sid, new_sid(len));
            assert!(!is_valid_sid("short", len));
        }
    }

    #[test]
    fn channel_access_follows_the_record_rules() {
        let mut db = Db::seed("odoo");
        let portal = db.add_user(&UserSpec {
            internal: false,
            ..UserSpec::internal("p", "p", "Portal")
        });
        let private = db.add_channel("secret", ChannelKind::Private, &[2]);
        assert!(
            db.can_read_channel(Some(6), 1),
            "internal user reads a public channel"
        );
        assert!(
            !db.can_read_channel(Some(portal.uid), 1),
            "portal user does not"
        );
        assert!(
            !db.can_read_channel(Some(6), private),
            "non-member does not read a private one"
        );
        assert!(db.can_read_channel(Some(2), private), "member does");
        assert!(!db.can_read_channel(None, 1), "anonymous reads nothing");
    }

    #[test]
    fn stale_sessions_after_a_security_change() {
        let mut db = Db::seed("odoo");
        let sid = db.create_session(6).unwrap();
        assert_eq!(db.auth(&sid), Auth::User(6));
        db.users.get_mut(&6).unwrap().security_stamp += 1;
        assert_eq!(db.auth(&sid), Auth::Stale(6));
        assert_eq!(db.auth("nope"), Auth::Missing);
    }

    #[test]
    fn login_cooldown_counts_failures_per_address() {
        let mut db = Db::seed("odoo");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..4 {
            db.record_login_failure(ip, now);
        }
        assert!(!db.on_cooldown(ip, 5, Duration::from_secs(60), now));
        db.record_login_failure(ip, now);
        assert!(db.on_cooldown(ip, 5, Duration::from_secs(60), now));
        assert!(!db.on_cooldown(
            ip,
            5,
            Duration::from_secs(60),
            now + Duration::from_secs(61)
        ));
    }
}
