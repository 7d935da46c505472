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

use crate::bus::Channel;
use crate::model::{Db, PUBLIC_UID};

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

/// `_prepare_subscribe_data` + channel building for the session's user (`None`: public).
/// `None` means the subscription is silently dropped.
pub fn prepare_subscribe(
    db: &Db,
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
    for s in &requested {
        let Some(rest) = s.strip_prefix("odoo-presence-") else {
            plain.push(s);
            continue;
        };
        let parts: Vec<&str> = rest.split('_').collect();
        let id: i64 = parts.get(1)?.parse().ok()?;
        let Some(user) = user else { continue };
        if parts[0] != "res.partner" || !db.partners.contains_key(&id) {
            continue;
        }
        let shares_a_channel = || {
            db.channels
                .values()
                .any(|c| c.member_of(user.partner_id).is_some() && c.member_of(id).is_some())
        };
        if user.internal || shares_a_channel() {
            out.insert(Channel::presence(id));
            presence_partners.push(id);
        }
    }
    let mut asked_ids = Vec::new();
    for s in plain {
        match discuss_channel_id(s) {
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
            if !asked {
                out.insert(Channel::members(c.id));
            }
        }
    }
    out.extend(db.base_channels(user.map(|u| u.uid)));
    Some(Subscription {
        channels: out,
        last,
        presence_partners,
    })
}

/// `update_presence` data: exactly `{inactivity_period, im_status_ids_by_model}` (the server
/// calls `_update_bus_presence(**data)`); returns the inactivity in ms.
pub fn read_update_presence(data: &Value) -> Option<f64> {
    let obj = data.as_object()?;
    if obj.len() != 2 || !obj.contains_key("im_status_ids_by_model") {
        return None;
    }
    obj.get("inactivity_period")?.as_f64()
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
        let sub = prepare_subscribe(&db, Some(6), &json!([]), &json!(0)).unwrap();
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
        let sub =
            prepare_subscribe(&db, Some(6), &json!(["discuss.channel_1"]), &json!(0)).unwrap();
        assert!(sub.channels.contains(&Channel::discuss(1)));
        assert!(!sub.channels.contains(&Channel::members(1)));
    }

    #[test]
    fn voiding_and_filtering() {
        let db = Db::seed("odoo");
        assert!(prepare_subscribe(&db, Some(6), &json!(["a", 1]), &json!(0)).is_none());
        assert!(
            prepare_subscribe(
                &db,
                Some(6),
                &json!(["odoo-presence-res.partner_abc"]),
                &json!(0)
            )
            .is_none()
        );
        assert!(prepare_subscribe(&db, Some(6), &json!(["a"]), &json!("abc")).is_none());
        assert!(prepare_subscribe(&db, Some(6), &json!({"a": 1}), &json!(0)).is_none());
        let public = prepare_subscribe(
            &db,
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
            Some(6),
            &json!(["odoo-presence-res.partner_3"]),
            &json!(99),
        )
        .unwrap();
        assert!(sub.channels.contains(&Channel::presence(3)));
        assert_eq!(sub.last, 0, "last above the largest id becomes 0");
    }

    #[test]
    fn update_presence_needs_exactly_two_keys() {
        assert_eq!(
            read_update_presence(&json!({"inactivity_period": 5, "im_status_ids_by_model": {}})),
            Some(5.0)
        );
        assert_eq!(read_update_presence(&json!({"inactivity_period": 5})), None);
        assert_eq!(
            read_update_presence(
                &json!({"inactivity_period": 5, "im_status_ids_by_model": {}, "x": 1})
            ),
            None
        );
        assert_eq!(
            read_update_presence(&json!({"inactivity_period": "5", "im_status_ids_by_model": {}})),
            None
        );
    }
}
