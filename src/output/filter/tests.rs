use super::*;
use odoo_bus_core::bus::protocol::decode_batch;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn filter(include: &[&str], exclude: &[&str]) -> TypeFilter {
    TypeFilter::new(&strings(include), &strings(exclude)).unwrap()
}

fn raw(json: &str) -> &RawValue {
    serde_json::from_str(json).unwrap()
}

const NEW_MESSAGE: &str = "discuss.channel/new_message";
const INSERT: &str = "mail.record/insert";

#[test]
fn no_pattern_accepts_everything() {
    let f = filter(&[], &[]);
    assert!(f.accepts_everything());
    assert!(f.accepts(NEW_MESSAGE));
    assert!(f.accepts(""));
}

#[test]
fn exact_and_glob_includes() {
    let f = filter(&[NEW_MESSAGE], &[]);
    assert!(f.accepts(NEW_MESSAGE));
    assert!(!f.accepts("discuss.channel/new_message2"));
    assert!(!f.accepts("discuss.channel"));

    let f = filter(&["discuss.channel/*"], &[]);
    assert!(f.accepts(NEW_MESSAGE));
    assert!(f.accepts("discuss.channel/"));
    assert!(!f.accepts("discuss.channel.member/fetched"));
    assert!(!f.accepts(INSERT));

    let f = filter(&["*/insert", "bus.*"], &[]);
    assert!(f.accepts(INSERT));
    assert!(f.accepts("bus.bus/im_status_updated"));
    assert!(!f.accepts("mail.record/insert_more"));
    assert!(!f.accepts(NEW_MESSAGE));
}

#[test]
fn exclude_wins_over_include() {
    let f = filter(&["discuss.*"], &["*/new_message"]);
    assert!(!f.accepts(NEW_MESSAGE));
    assert!(f.accepts("discuss.channel/joined"));
    let f = filter(&[], &[INSERT, "bus.bus/*"]);
    assert!(!f.accepts(INSERT));
    assert!(!f.accepts("bus.bus/im_status_updated"));
    assert!(f.accepts(NEW_MESSAGE));
    assert!(!f.accepts_everything());
}

#[test]
fn glob_corner_cases() {
    let cases: &[(&str, &str, bool)] = &[
        ("*", "", true),
        ("*", "anything/at all", true),
        ("**", "x", true),
        ("a*", "a", true),
        ("a*", "ba", false),
        ("*a", "a", true),
        ("*a", "ab", false),
        ("a*a", "a", false),
        ("a*a", "aa", true),
        ("a*a", "aba", true),
        ("*b*b", "b", false),
        ("*b*b", "bb", true),
        ("*a*ab", "aab", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxcyyb", false),
        ("mail.*/insert", INSERT, true),
        ("mail.*/insert", "mail.record/inserted", false),
        ("*é*", "café", true),
        ("caf*😀", "café 😀", true),
    ];
    for &(pattern, text, want) in cases {
        assert_eq!(
            filter(&[pattern], &[]).accepts(text),
            want,
            "{pattern} vs {text:?}"
        );
    }
}

#[test]
fn empty_pattern_is_an_error() {
    let e = TypeFilter::new(&strings(&[""]), &[]).unwrap_err();
    assert!(e.starts_with("empty type pattern"), "{e}");
    assert!(TypeFilter::new(&[], &strings(&["x", ""])).is_err());
}

#[test]
fn selector_parses_channel_strings() {
    let s = ChannelSelector::new(&strings(&[
        "discuss.channel_1",
        "odoo-presence-res.partner_7",
        "odoo-presence-mail.guest_3-token",
        "prefix discuss.channel_42 suffix",
        "discuss.channel_x",
        "broadcast",
        "odoo-presence-res.partner_abc",
        // Read as the server reads it (bus::channel): a name it would choke on attributes nothing.
        "odoo-presence-res.partner_8x",
        "discuss.channel_0",
    ]));
    assert_eq!(s.channels, vec![1, 42]);
    assert_eq!(s.partners, vec![7]);
    assert_eq!(s.guests, vec![3]);
    assert!(!s.is_empty());
    assert!(ChannelSelector::new(&strings(&["broadcast", "pos_config-abc"])).is_empty());
}

#[test]
fn selector_attributes_real_frames() {
    const HELLO: &str = include_str!("../../../crates/core/fixtures/odoo18/new_message_hello.json");
    const OWN_POST: &str =
        include_str!("../../../crates/core/fixtures/odoo18/own_post_with_member_update.json");
    let mine = ChannelSelector::new(&strings(&["discuss.channel_1"]));
    let other = ChannelSelector::new(&strings(&["discuss.channel_2"]));
    for frame in [HELLO, OWN_POST] {
        for n in decode_batch(frame).unwrap() {
            assert!(mine.accepts(&n.kind, n.payload), "{} {}", n.id, n.kind);
            assert!(!other.accepts(&n.kind, n.payload), "{} {}", n.id, n.kind);
        }
    }
}

#[test]
fn selector_attributes_presence_by_partner_or_guest() {
    const REPLAY: &str = include_str!("../../../crates/core/fixtures/odoo18/presence_replay.json");
    let watching_7 = ChannelSelector::new(&strings(&["odoo-presence-res.partner_7"]));
    let watching_8 = ChannelSelector::new(&strings(&[
        "odoo-presence-res.partner_8",
        "discuss.channel_7",
    ]));
    for n in decode_batch(REPLAY).unwrap() {
        assert!(watching_7.accepts(&n.kind, n.payload));
        assert!(!watching_8.accepts(&n.kind, n.payload));
    }
    let guest = ChannelSelector::new(&strings(&["odoo-presence-mail.guest_4"]));
    let kind = "bus.bus/im_status_updated";
    assert!(guest.accepts(kind, raw(r#"{"im_status": "online", "guest_id": 4}"#)));
    assert!(!guest.accepts(kind, raw(r#"{"im_status": "online", "partner_id": 4}"#)));
}

#[test]
fn selector_attributes_other_channel_types() {
    let s = ChannelSelector::new(&strings(&["discuss.channel_1"]));
    let yes = [
        (
            "discuss.channel.member/fetched",
            r#"{"channel_id": 1, "id": 5, "last_message_id": 21, "partner_id": 3}"#,
        ),
        ("discuss.channel/unpin", r#"{"id": 1}"#),
        ("discuss.channel/delete", r#"{"id": 1}"#),
        (
            "discuss.channel/joined",
            r#"{"channel": {"id": 1, "name": "general", "model": "discuss.channel", "is_pinned": true}, "open_chat_window": false}"#,
        ),
        (
            "discuss.channel/transient_message",
            r#"{"body": "<span class='o_mail_notification'>x</span>", "thread": {"id": 1, "model": "discuss.channel"}}"#,
        ),
        // Typing: the member record names its channel through `thread` (18.0) or `channel_id`.
        (
            INSERT,
            r#"{"discuss.channel.member": [{"id": 9, "isTyping": true, "persona": {"id": 7, "type": "partner"}, "thread": {"id": 1, "model": "discuss.channel"}}], "res.partner": [{"id": 7, "name": "Marc Demo"}]}"#,
        ),
        (
            INSERT,
            r#"{"discuss.channel.member": [{"id": 9, "channel_id": {"id": 1}}]}"#,
        ),
        (
            INSERT,
            r#"{"discuss.channel.member": {"id": 9, "channel_id": 1}}"#,
        ),
        (
            INSERT,
            r#"{"discuss.channel": [{"id": 3}, {"id": 1, "is_pinned": false}]}"#,
        ),
    ];
    for (kind, payload) in yes {
        assert!(s.accepts(kind, raw(payload)), "{kind} {payload}");
    }
    let no = [
        (
            "discuss.channel.member/fetched",
            r#"{"channel_id": 2, "id": 5}"#,
        ),
        ("discuss.channel/unpin", r#"{"id": 2}"#),
        ("discuss.channel/unpin", r#"{"id": "1"}"#),
        (
            "discuss.channel/transient_message",
            r#"{"thread": {"id": 1, "model": "res.partner"}}"#,
        ),
        (
            INSERT,
            r#"{"discuss.channel.member": [{"id": 1, "thread": {"id": 1, "model": "res.partner"}}]}"#,
        ),
        (
            INSERT,
            r#"{"res.partner": [{"id": 1}], "discuss.channel": "odd"}"#,
        ),
        (
            INSERT,
            r#"{"mail.message": [{"id": 1, "res_id": 1, "model": "discuss.channel"}]}"#,
        ),
        (INSERT, r#"[1, 2]"#),
        (INSERT, "null"),
        ("mail.message/inbox", r#"{"id": 1}"#),
        ("res.users.settings", r#"{"id": 1}"#),
        (
            "bus.bus/im_status_updated",
            r#"{"im_status": "online", "partner_id": 1}"#,
        ),
        (NEW_MESSAGE, r#"{"data": {}, "id": 2}"#),
        (NEW_MESSAGE, r#"{"data": {}}"#),
        (NEW_MESSAGE, "[]"),
    ];
    for (kind, payload) in no {
        assert!(!s.accepts(kind, raw(payload)), "{kind} {payload}");
    }
}

#[test]
fn selector_without_channels_attributes_nothing_but_presence() {
    let s = ChannelSelector::new(&strings(&["odoo-presence-res.partner_7"]));
    assert!(!s.accepts(NEW_MESSAGE, raw(r#"{"data": {}, "id": 1}"#)));
    assert!(!s.accepts(INSERT, raw(r#"{"discuss.channel": [{"id": 1}]}"#)));
    assert!(s.accepts(
        "bus.bus/im_status_updated",
        raw(r#"{"im_status": "away", "partner_id": 7}"#)
    ));
}

#[test]
fn every_versions_chat_channel_spelling_selects_it() {
    let s = ChannelSelector::new(&strings(&["mail.channel_5", "7", "discuss.channel_9"]));
    assert_eq!(s.channels, [5, 7, 9]);
    // 16's payloads name the model `mail.channel`.
    assert_eq!(
        channel_ref(Some(raw(r#"{"id": 5, "model": "mail.channel"}"#))),
        Some(5)
    );
    assert_eq!(
        channel_ref(Some(raw(r#"{"id": 5, "model": "res.partner"}"#))),
        None
    );
}
