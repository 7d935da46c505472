//! Client events: `subscribe` (with Odoo 18's channel building) and `update_presence`.
//!
//! The subscribe rules are the part clients get wrong most often, so they are kept literal
//! (`ir.websocket._prepare_subscribe_data`, `_build_bus_channel_list` and the mail overrides):
//! a non-string channel or a malformed presence id silently voids the whole subscription; a
//! `last` above the largest id becomes 0; `discuss.channel_<N>` is found anywhere in a string
//! and filtered by read access; every other string is kept with no authorisation at all.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::Value;

use crate::bus::{Channel, DISCUSS_CHANNEL, GROUP};
use crate::model::{Db, PUBLIC_UID};
use crate::personality::{OdooVersion, PresenceChannels, fake_token};

/// A validated subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub channels: HashSet<Channel>,
    pub last: i64,
    /// Partners whose presence was asked for and granted (for the "missed presences").
    pub presence_partners: Vec<i64>,
}

/// Python's `int`-compatible reading of `last` (a bool is an int, a float is compared as is;
/// ids are integers so flooring keeps `id > last` unchanged). Anything else raises, which
/// voids the subscription.
fn read_last(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)),
        _ => None,
    }
}

/// The first `discuss.channel_<digits>` anywhere in `s` (`re.findall(...)[0]`).
fn discuss_channel_id(s: &str) -> Option<i64> {
    const NEEDLE: &str = "discuss.channel_";
    let mut rest = s;
    while let Some(at) = rest.find(NEEDLE) {
        let after = &rest[at + NEEDLE.len()..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() {
            return digits.parse().ok();
        }
        rest = &rest[at + 1..];
    }
    None
}

/// `_prepare_subscribe_data` + channel building for the session's user (`None`: public), by
/// the version's rules. `None` means the subscription is silently dropped.
pub fn prepare_subscribe(
    db: &Db,
    version: OdooVersion,
    uid: Option<i64>,
    channels: &Value,
    last: &Value,
) -> Option<Subscription> {
    let requested: Vec<&str> = channels
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect::<Option<_>>()?;
    let mut last = read_last(last)?;
    if last > db.bus.last_id(Instant::now(), db.flood_max) as i64 {
        last = 0;
    }
    let user = uid
        .filter(|u| *u != PUBLIC_UID)
        .and_then(|u| db.users.get(&u));
    let mut out: HashSet<Channel> = HashSet::new();
    let mut presence_partners = Vec::new();
    let mut plain: Vec<&str> = Vec::new();
    let rule = version.presence_channels();
    for s in &requested {
        let rest = match s.strip_prefix("odoo-presence-") {
            Some(rest) if rule != PresenceChannels::None => rest,
            _ => {
                plain.push(s);
                continue;
            }
        };
        let mut token_ok = false;
        let id = if rule == PresenceChannels::Tokens {
            // `res.partner_<id>` or `res.partner_<id>-<token>`; anything else is skipped. The
            // token is the `im_status_access_token` 19's payloads hand out.
            match presence_19(rest) {
                Some((id, token)) => {
                    token_ok = token.is_some_and(|t| t == fake_token(id, 2));
                    id
                }
                None => continue,
            }
        } else {
            let parts: Vec<&str> = rest.split('_').collect();
            let id: i64 = parts.get(1)?.parse().ok()?;
            if parts[0] != "res.partner" {
                continue;
            }
            id
        };
        let Some(user) = user else { continue };
        if !db.partners.contains_key(&id) {
            continue;
        }
        let shares_a_channel = || {
            db.channels
                .values()
                .any(|c| c.member_of(user.partner_id).is_some() && c.member_of(id).is_some())
        };
        if user.internal || token_ok || shares_a_channel() {
            out.insert(Channel::presence(id));
            presence_partners.push(id);
        }
    }
    if let (PresenceChannels::Tokens, Some(user)) = (rule, user) {
        out.insert(Channel::presence(user.partner_id));
    }
    let mut asked_ids = Vec::new();
    for s in plain {
        match discuss_channel_id(s).filter(|_| version.parses_chat_strings()) {
            Some(id) => asked_ids.push(id),
            None => {
                out.insert(Channel::Str(s.to_string()));
            }
        }
    }
    let partner = user.map(|u| u.partner_id);
    for c in db.channels.values() {
        let member = partner.is_some_and(|p| c.member_of(p).is_some());
        let asked = asked_ids.contains(&c.id);
        if (member || asked) && db.can_read_channel(uid, c.id) {
            out.insert(Channel::discuss(c.id));
            match version.chat_subchannel() {
                Some("internal_users") if user.is_some_and(|u| u.internal) => {
                    out.insert(Channel::Sub(DISCUSS_CHANNEL, c.id, "internal_users"));
                }
                Some("members") if !asked => {
                    out.insert(Channel::members(c.id));
                }
                _ => {}
            }
        }
    }
    out.extend(
        db.base_channels(user.map(|u| u.uid))
            .into_iter()
            .filter(|c| version.subscribes_groups() || !matches!(c, Channel::Record(GROUP, _))),
    );
    Some(Subscription {
        channels: out,
        last,
        presence_partners,
    })
}

/// 19's `PRESENCE_CHANNEL_REGEX` for partners: `res.partner_<digits>` then nothing or
/// `-<64 hex>o0x<hex>`; the id and the token.
fn presence_19(rest: &str) -> Option<(i64, Option<&str>)> {
    let after = rest.strip_prefix("res.partner_")?;
    let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    let tail = &after[digits.len()..];
    let token_ok = |t: &str| {
        let Some((sig, n)) = t.split_once("o0x") else {
            return false;
        };
        sig.len() == 64
            && sig.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
            && !n.is_empty()
            && n.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    };
    let ok = tail.is_empty() || tail.strip_prefix('-').is_some_and(token_ok);
    if digits.is_empty() || !ok {
        return None;
    }
    Some((digits.parse().ok()?, tail.strip_prefix('-')))
}

/// What an `update_presence` asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceUpdate {
    pub inactivity_ms: f64,
    /// `im_status_ids_by_model["res.partner"]`, when the key is there (16 and early 17 answer
    /// with those partners' statuses).
    pub partners: Option<Vec<i64>>,
}

/// `update_presence` data: exactly the version's keyword arguments (the server calls the
/// handler with `**data`: a missing or extra key is a TypeError, logged server-side, and the
/// presence is not updated). `Err` carries that log line.
pub fn read_update_presence(version: OdooVersion, data: &Value) -> Result<PresenceUpdate, String> {
    let Some(obj) = data.as_object() else {
        return Err("TypeError: argument after ** must be a mapping".into());
    };
    let keys = version.update_presence_keys();
    if let Some(extra) = obj.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(format!(
            "TypeError: {}() got an unexpected keyword argument '{extra}'",
            if version == OdooVersion::V19 {
                "IrWebsocket._update_mail_presence"
            } else {
                "IrWebsocket._update_bus_presence"
            }
        ));
    }
    if let Some(missing) = keys.iter().find(|k| !obj.contains_key(**k)) {
        return Err(format!(
            "TypeError: missing 1 required positional argument: '{missing}'"
        ));
    }
    let inactivity_ms = obj
        .get("inactivity_period")
        .and_then(Value::as_f64)
        .ok_or_else(|| "TypeError: '>' not supported between instances".to_string())?;
    let partners = obj
        .get("im_status_ids_by_model")
        .and_then(|m| m.get("res.partner"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_i64).collect());
    Ok(PresenceUpdate {
        inactivity_ms,
        partners,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn discuss_channel_ids_are_found_anywhere() {
        assert_eq!(discuss_channel_id("discuss.channel_5"), Some(5));
        assert_eq!(discuss_channel_id("xdiscuss.channel_12y"), Some(12));
        assert_eq!(discuss_channel_id("discuss.channel_"), None);
        assert_eq!(
            discuss_channel_id("discuss.channel_x discuss.channel_3"),
            Some(3)
        );
    }

    #[test]
    fn implicit_channels_for_a_member() {
        let db = Db::seed("odoo");
        let sub = prepare_subscribe(&db, OdooVersion::V18, Some(6), &json!([]), &json!(0)).unwrap();
        for c in [
            Channel::broadcast(),
            Channel::partner(7),
            Channel::group(1),
            Channel::discuss(1),
            Channel::members(1),
        ] {
            assert!(
                sub.channels.contains(&c),
                "{c} missing from {:?}",
                sub.channels
            );
        }
        // Asking explicitly for a member channel drops its "members" subchannel (as in Odoo).
        let sub = prepare_subscribe(
            &db,
            OdooVersion::V18,
            Some(6),
            &json!(["discuss.channel_1"]),
            &json!(0),
        )
        .unwrap();
        assert!(sub.channels.contains(&Channel::discuss(1)));
        assert!(!sub.channels.contains(&Channel::members(1)));
    }

    #[test]
    fn voiding_and_filtering() {
        let db = Db::seed("odoo");
        assert!(
            prepare_subscribe(&db, OdooVersion::V18, Some(6), &json!(["a", 1]), &json!(0))
                .is_none()
        );
        assert!(
            prepare_subscribe(
                &db,
                OdooVersion::V18,
                Some(6),
                &json!(["odoo-presence-res.partner_abc"]),
                &json!(0)
            )
            .is_none()
        );
        assert!(
            prepare_subscribe(&db, OdooVersion::V18, Some(6), &json!(["a"]), &json!("abc"))
                .is_none()
        );
        assert!(
            prepare_subscribe(&db, OdooVersion::V18, Some(6), &json!({"a": 1}), &json!(0))
                .is_none()
        );
        let public = prepare_subscribe(
            &db,
            OdooVersion::V18,
            None,
            &json!(["discuss.channel_1", "pos-token"]),
            &json!(0),
        )
        .unwrap();
        assert!(
            !public.channels.contains(&Channel::discuss(1)),
            "public reads no channel"
        );
        assert!(public.channels.contains(&Channel::Str("pos-token".into())));
        let sub = prepare_subscribe(
            &db,
            OdooVersion::V18,
            Some(6),
            &json!(["odoo-presence-res.partner_3"]),
            &json!(99),
        )
        .unwrap();
        assert!(sub.channels.contains(&Channel::presence(3)));
        assert_eq!(sub.last, 0, "last above the largest id becomes 0");
    }

    #[test]
    fn update_presence_needs_exactly_the_versions_keys() {
        let v18 = OdooVersion::V18;
        let both = json!({"inactivity_period": 5, "im_status_ids_by_model": {"res.partner": [7]}});
        let read = read_update_presence(v18, &both).unwrap();
        assert_eq!(read.inactivity_ms, 5.0);
        assert_eq!(read.partners, Some(vec![7]));
        assert!(read_update_presence(v18, &json!({"inactivity_period": 5})).is_err());
        assert!(
            read_update_presence(
                v18,
                &json!({"inactivity_period": 5, "im_status_ids_by_model": {}, "x": 1})
            )
            .is_err()
        );
        assert!(
            read_update_presence(
                v18,
                &json!({"inactivity_period": "5", "im_status_ids_by_model": {}})
            )
            .is_err()
        );
        // 19 takes `inactivity_period` alone; the 18 shape is a TypeError in its log.
        let v19 = OdooVersion::V19;
        assert!(read_update_presence(v19, &json!({"inactivity_period": 0})).is_ok());
        let err = read_update_presence(v19, &both).unwrap_err();
        assert!(
            err.contains("unexpected keyword argument 'im_status_ids_by_model'"),
            "{err}"
        );
    }

    #[test]
    fn subscribe_rules_per_version() {
        let db = Db::seed("odoo");
        let sub = |v, chans: Value| prepare_subscribe(&db, v, Some(2), &chans, &json!(0)).unwrap();
        // 16: no channel strings, no subchannels, no groups; member channels by default.
        let s16 = sub(
            OdooVersion::V16,
            json!(["mail.channel_1", "discuss.channel_1"]),
        );
        assert!(s16.channels.contains(&Channel::discuss(1)));
        assert!(
            s16.channels
                .contains(&Channel::Str("mail.channel_1".into()))
        );
        assert!(
            s16.channels
                .contains(&Channel::Str("discuss.channel_1".into()))
        );
        assert!(
            !s16.channels
                .iter()
                .any(|c| matches!(c, Channel::Sub(..) | Channel::Record(GROUP, _)))
        );
        // Early 17: presence strings are inert strings.
        let s17e = sub(
            OdooVersion::V17Early,
            json!(["odoo-presence-res.partner_7"]),
        );
        assert!(
            s17e.channels
                .contains(&Channel::Str("odoo-presence-res.partner_7".into()))
        );
        assert!(s17e.channels.contains(&Channel::members(1)));
        // 19: a malformed presence string is skipped, tokens are accepted, own presence added.
        let token = format!("odoo-presence-res.partner_7-{}o0x1a", "a".repeat(64));
        let s19 = sub(
            OdooVersion::V19,
            json!(["odoo-presence-res.partner_x", token]),
        );
        assert!(s19.channels.contains(&Channel::presence(7)));
        assert!(s19.channels.contains(&Channel::presence(3)), "own presence");
        assert!(
            s19.channels
                .contains(&Channel::Sub(DISCUSS_CHANNEL, 1, "internal_users"))
        );
        assert!(!s19.channels.contains(&Channel::members(1)));
        assert!(s19.channels.contains(&Channel::group(1)));
        assert!(
            prepare_subscribe(
                &db,
                OdooVersion::V18,
                Some(2),
                &json!(["odoo-presence-res.partner_x"]),
                &json!(0)
            )
            .is_none()
        );
        // A portal user sees a stranger's presence on 19 only with the partner's token.
        let mut db = db;
        let portal = db.add_user(&crate::model::UserSpec {
            internal: false,
            ..crate::model::UserSpec::internal("p", "p", "Portal")
        });
        let with = |chan: String| {
            prepare_subscribe(
                &db,
                OdooVersion::V19,
                Some(portal.uid),
                &json!([chan]),
                &json!(0),
            )
            .unwrap()
            .channels
            .contains(&Channel::presence(7))
        };
        assert!(!with("odoo-presence-res.partner_7".into()));
        assert!(with(format!(
            "odoo-presence-res.partner_7-{}",
            fake_token(7, 2)
        )));
    }
}
