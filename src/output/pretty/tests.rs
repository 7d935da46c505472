use jiff::tz::TimeZone;

use super::*;
use crate::output::tests::{HELLO, NON_ASCII, Recorder, received_at};
use odoo_bus_core::bus::protocol::decode_batch;

const OWN_POST: &str =
    include_str!("../../../crates/core/fixtures/odoo18/own_post_with_member_update.json");
const REPLAY: &str = include_str!("../../../crates/core/fixtures/odoo18/presence_replay.json");

fn pretty(text: &str, opts: PrintOptions) -> String {
    let mut p = PrettyPrinter::with_time_zone(Recorder::default(), opts, TimeZone::UTC);
    let batch = decode_batch(text).unwrap();
    let frame = FrameView {
        text,
        received_at: received_at(),
        notifications: &batch,
    };
    p.frame(&frame).unwrap();
    String::from_utf8(p.into_inner().bytes).unwrap()
}

fn plain(text: &str) -> String {
    pretty(text, PrintOptions::default())
}

fn lines(text: &str) -> Vec<String> {
    plain(text).lines().map(str::to_string).collect()
}

/// A one-notification frame of the given type and payload.
fn single(kind: &str, payload: &str) -> String {
    format!(r#"[{{"id": 40, "message": {{"type": "{kind}", "payload": {payload}}}}}]"#)
}

#[test]
fn real_frames_read_naturally() {
    assert_eq!(
        lines(HELLO),
        vec![
            r#"23:06:28.123 12 mail.record/insert           {"discuss.channel":[{"id":1,"last_interest_dt":"2026-11-21 23:06:28"}]}"#,
            r#"23:06:28.123 14 mail.record/insert           {"discuss.channel":[{"id":1,"is_pinned":true}]}"#,
            "23:06:28.123 15 discuss.channel/new_message  #general Marc Demo: hello",
        ]
    );
    assert_eq!(
        lines(NON_ASCII)[2],
        "23:06:28.123 19 discuss.channel/new_message  #general Marc Demo: café 😀 x & y"
    );
    assert_eq!(
        lines(OWN_POST)[3],
        "23:06:28.123 23 discuss.channel/new_message  #general Mitchell Admin: from admin"
    );
    let presence = lines(REPLAY);
    assert_eq!(presence.len(), 5);
    assert_eq!(
        presence[1],
        "23:06:28.123 29 bus.bus/im_status_updated    partner 7 is away"
    );
    assert_eq!(
        presence[2],
        "23:06:28.123 30 bus.bus/im_status_updated    partner 7 is offline"
    );
}

#[test]
fn local_time_follows_the_time_zone() {
    let tz =
        TimeZone::get("Europe/Brussels").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(1)));
    let mut p = PrettyPrinter::with_time_zone(Recorder::default(), PrintOptions::default(), tz);
    let batch = decode_batch(HELLO).unwrap();
    p.frame(&FrameView {
        text: HELLO,
        received_at: received_at(),
        notifications: &batch[..1],
    })
    .unwrap();
    let out = String::from_utf8(p.into_inner().bytes).unwrap();
    assert!(out.starts_with("00:06:28.123 12 "), "{out}");
}

#[test]
fn new_message_names_channel_and_author_from_the_store() {
    let payload = r#"{"data": {"discuss.channel": [{"id": 5, "name": "sales"}], "mail.message": [{"author": {"id": 9, "type": "guest"}, "body": "<p>hi <b>there</b></p><p>again</p>", "id": 30, "model": "discuss.channel", "record_name": "ignored", "res_id": 5}], "mail.guest": [{"id": 9, "name": "Visitor"}]}, "id": 5}"#;
    let out = lines(&single("discuss.channel/new_message", payload));
    assert!(
        out[0].ends_with("#sales Visitor: hi there again"),
        "{}",
        out[0]
    );

    // Nothing to name them with: ids.
    let payload = r#"{"data": {"mail.message": [{"author": {"id": 9, "type": "partner"}, "body": "", "attachment_ids": [{"id": 1}, {"id": 2}]}]}, "id": 5}"#;
    let out = lines(&single("discuss.channel/new_message", payload));
    assert!(
        out[0].ends_with("#5 partner 9: (2 attachments)"),
        "{}",
        out[0]
    );

    // An email reply: no author record.
    let payload = r#"{"data": {"mail.message": [{"author": false, "email_from": "a@b.c", "body": ["markup", "<p>via mail</p>"]}]}, "id": 5}"#;
    let out = lines(&single("discuss.channel/new_message", payload));
    assert!(out[0].ends_with("#5 a@b.c: via mail"), "{}", out[0]);
}

#[test]
fn typing_is_a_sentence() {
    let typing = r#"{"discuss.channel.member": [{"id": 9, "isTyping": true, "persona": {"id": 7, "type": "partner"}, "thread": {"id": 1, "model": "discuss.channel"}}], "res.partner": [{"id": 7, "name": "Marc Demo"}]}"#;
    assert!(
        lines(&single("mail.record/insert", typing))[0]
            .ends_with("mail.record/insert           Marc Demo is typing in #1")
    );
    let stopped = r#"{"discuss.channel.member": [{"id": 9, "isTyping": false, "persona": {"id": 4, "type": "guest"}, "channel_id": {"id": 3}}], "discuss.channel": [{"id": 3, "name": "support"}]}"#;
    assert!(
        lines(&single("mail.record/insert", stopped))[0]
            .ends_with("guest 4 stopped typing in #support")
    );
}

#[test]
fn other_payloads_are_compact_json() {
    let out = lines(&single(
        "simple_notification",
        r#"{"message": "caf\u00e9", "sticky": false, "type": "danger"}"#,
    ));
    assert!(
        out[0].ends_with(
            r#"simple_notification          {"message":"café","sticky":false,"type":"danger"}"#
        ),
        "{}",
        out[0]
    );
    let out = lines(r#"[{"id": 41, "message": {"type": "bundle_changed"}}]"#);
    assert!(
        out[0].ends_with("bundle_changed               null"),
        "{}",
        out[0]
    );
    // Known types with unexpected shapes fall back to JSON too.
    let out = lines(&single("bus.bus/im_status_updated", r#"{"im_status": 3}"#));
    assert!(out[0].ends_with(r#"{"im_status":3}"#), "{}", out[0]);
}

#[test]
fn lines_are_cut_to_the_width() {
    let body = "word ".repeat(100);
    let payload = format!(
        r#"{{"data": {{"mail.message": [{{"author": {{"id": 7}}, "body": "<p>{body}😀</p>"}}]}}, "id": 1}}"#
    );
    let frame = single("discuss.channel/new_message", &payload);
    for width in [10, 40, 60, 61, 80, 200] {
        let out = pretty(
            &frame,
            PrintOptions {
                width: Some(width),
                ..Default::default()
            },
        );
        let line = out.lines().next().unwrap();
        let columns: usize = line
            .chars()
            .map(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0))
            .sum();
        assert!(columns <= width, "{columns} > {width}: {line}");
        assert!(line.ends_with('…'), "{line}");
    }
    let wide = pretty(&frame, PrintOptions::default());
    assert!(
        wide.trim_end().ends_with("word 😀"),
        "no width: nothing cut"
    );
}

#[test]
fn terminal_control_characters_never_reach_the_terminal() {
    let payload = r#"{"data": {"mail.message": [{"author": {"id": 7}, "body": "<p>\u001b[2J\u001b]0;pwned\u0007 hi</p>"}], "res.partner": [{"id": 7, "name": "Eve\u001b[31m"}]}, "id": 1}"#;
    let out = plain(&single("discuss.channel/new_message", payload));
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("Eve\u{FFFD}[31m"), "{out:?}");
    let kind = r#"[{"id": 1, "message": {"type": "evil\u001b[2J", "payload": {}}}]"#;
    assert!(!plain(kind).contains('\x1b'));
}

#[test]
fn colors_only_when_asked() {
    colored::control::set_override(true);
    let colored_out = pretty(
        HELLO,
        PrintOptions {
            color: true,
            ..Default::default()
        },
    );
    assert!(colored_out.contains("\x1b["), "{colored_out:?}");
    // discuss.* and mail.* types get different colors.
    let cyan = "\x1b[36mdiscuss.channel/new_message";
    let green = "\x1b[32mmail.record/insert";
    assert!(
        colored_out.contains(cyan) && colored_out.contains(green),
        "{colored_out:?}"
    );
    assert_eq!(colored_out.lines().count(), 3);

    let plain_out = pretty(
        HELLO,
        PrintOptions {
            color: false,
            ..Default::default()
        },
    );
    assert!(!plain_out.contains('\x1b'));
}

#[test]
fn family_colors() {
    assert_eq!(family_color("discuss.channel/new_message"), Color::Cyan);
    assert_eq!(family_color("discuss.channel.member/fetched"), Color::Cyan);
    assert_eq!(family_color("mail.record/insert"), Color::Green);
    assert_eq!(family_color("mail.message/inbox"), Color::Green);
    assert_eq!(family_color("bus.bus/im_status_updated"), Color::Yellow);
    assert_eq!(family_color("res.users.settings"), Color::Magenta);
    assert_eq!(family_color("bundle_changed"), Color::BrightBlue);
}

/// Prints several frames through one printer (names learned in one frame serve the next).
fn plain_frames(frames: &[String]) -> Vec<String> {
    let mut p =
        PrettyPrinter::with_time_zone(Recorder::default(), PrintOptions::default(), TimeZone::UTC);
    for text in frames {
        let batch = decode_batch(text).unwrap();
        p.frame(&FrameView {
            text,
            received_at: received_at(),
            notifications: &batch,
        })
        .unwrap();
    }
    String::from_utf8(p.into_inner().bytes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn presence_and_typing_use_names_seen_earlier() {
    let online = single(
        "bus.bus/im_status_updated",
        r#"{"im_status": "online", "partner_id": 7}"#,
    );
    let typing = single(
        "mail.record/insert",
        r#"{"discuss.channel.member": [{"id": 9, "isTyping": true, "persona": {"id": 7, "type": "partner"}, "thread": {"id": 1, "model": "discuss.channel"}}]}"#,
    );
    let guest_online = single(
        "bus.bus/im_status_updated",
        r#"{"im_status": "away", "guest_id": 4, "partner_id": false}"#,
    );
    // Before any Store payload: ids only.
    let before = plain_frames(&[online.clone(), typing.clone(), guest_online.clone()]);
    assert!(before[0].ends_with("partner 7 is online"), "{}", before[0]);
    assert!(
        before[1].ends_with("partner 7 is typing in #1"),
        "{}",
        before[1]
    );
    assert!(before[2].ends_with("guest 4 is away"), "{}", before[2]);

    // A real new_message frame names partner 7 and channel 1 (through record_name); an insert
    // names guest 4.
    let guest = single(
        "mail.record/insert",
        r#"{"mail.guest": {"id": 4, "name": "Visitor"}, "discuss.channel": [{"id": 3, "name": false}]}"#,
    );
    let after = plain_frames(&[HELLO.to_string(), guest, online, typing, guest_online]);
    let n = after.len();
    assert!(
        after[n - 3].ends_with("Marc Demo is online"),
        "{}",
        after[n - 3]
    );
    assert!(
        after[n - 2].ends_with("Marc Demo is typing in #general"),
        "{}",
        after[n - 2]
    );
    assert!(
        after[n - 1].ends_with("Visitor is away"),
        "{}",
        after[n - 1]
    );
    // The insert that taught a name is still shown as JSON.
    assert!(
        after[n - 4].ends_with(
            r#"{"mail.guest":{"id":4,"name":"Visitor"},"discuss.channel":[{"id":3,"name":false}]}"#
        ),
        "{}",
        after[n - 4]
    );
}

#[test]
fn a_channel_record_names_the_channel_over_record_name_and_renames_stick() {
    let message = |channel: &str| {
        single(
            "discuss.channel/new_message",
            &format!(
                r#"{{"data": {{{channel}"mail.message": [{{"author": {{"id": 7, "type": "partner"}}, "body": "<p>hi</p>", "model": "discuss.channel", "record_name": "old name"}}]}}, "id": 5}}"#
            ),
        )
    };
    let renamed = single(
        "mail.record/insert",
        r#"{"discuss.channel": [{"id": 5, "name": "new name"}]}"#,
    );
    let out = plain_frames(&[
        message(""),
        renamed,
        message(""),
        message(r#""discuss.channel": {"id": 5, "name": "sales"}, "#),
    ]);
    assert!(out[0].ends_with("#old name partner 7: hi"), "{}", out[0]);
    assert!(out[2].ends_with("#new name partner 7: hi"), "{}", out[2]);
    assert!(out[3].ends_with("#sales partner 7: hi"), "{}", out[3]);
}

#[test]
fn odd_field_types_read_as_absent() {
    // Odoo writes `false` for empty fields; numbers where strings were expected and so on
    // must not lose the line.
    let payload = r#"{"data": {"mail.message": [{"author": {"id": "7", "type": 3}, "body": 12, "attachment_ids": false, "record_name": false}], "res.partner": [{"id": 7, "name": false}, "junk", 5]}, "id": 2}"#;
    let out = lines(&single("discuss.channel/new_message", payload));
    assert!(out[0].ends_with("#2 someone: (no text)"), "{}", out[0]);
    let payload =
        r#"{"discuss.channel.member": {"isTyping": false, "persona": false, "channel_id": 3}}"#;
    let out = lines(&single("mail.record/insert", payload));
    assert!(
        out[0].ends_with("someone stopped typing in #3"),
        "{}",
        out[0]
    );
    // isTyping present but not a boolean: not a typing line.
    let payload = r#"{"discuss.channel.member": [{"isTyping": "yes"}]}"#;
    let out = lines(&single("mail.record/insert", payload));
    assert!(
        out[0].ends_with(r#"{"discuss.channel.member":[{"isTyping":"yes"}]}"#),
        "{}",
        out[0]
    );
}

/// Real frames of every version (crates/core/fixtures/odoo<v>/README.md says where they came
/// from), fed in order to one printer: the message, demo typing, demo's presence. The summary
/// must read the same on every version and name demo everywhere (learned from the message).
#[test]
fn every_versions_real_frames_are_summarised_and_name_people() {
    let versions: [(&str, [&str; 3], &str); 4] = [
        (
            "16",
            [
                include_str!("../../../crates/core/fixtures/odoo16/new_message.json"),
                include_str!("../../../crates/core/fixtures/odoo16/typing.json"),
                include_str!("../../../crates/core/fixtures/odoo16/presence.json"),
            ],
            "online",
        ),
        (
            "17e",
            [
                include_str!("../../../crates/core/fixtures/odoo17e/new_message.json"),
                include_str!("../../../crates/core/fixtures/odoo17e/typing.json"),
                include_str!("../../../crates/core/fixtures/odoo17e/presence.json"),
            ],
            "online",
        ),
        (
            "17l",
            [
                include_str!("../../../crates/core/fixtures/odoo17l/new_message.json"),
                include_str!("../../../crates/core/fixtures/odoo17l/typing.json"),
                include_str!("../../../crates/core/fixtures/odoo17l/presence.json"),
            ],
            "online",
        ),
        (
            "19",
            [
                include_str!("../../../crates/core/fixtures/odoo19/new_message.json"),
                include_str!("../../../crates/core/fixtures/odoo19/typing.json"),
                include_str!("../../../crates/core/fixtures/odoo19/presence.json"),
            ],
            "busy",
        ),
    ];
    for (v, frames, status) in versions {
        let mut p = PrettyPrinter::with_time_zone(
            Recorder::default(),
            PrintOptions::default(),
            TimeZone::UTC,
        );
        for text in frames {
            let batch = decode_batch(text).unwrap();
            let frame = FrameView {
                text,
                received_at: received_at(),
                notifications: &batch,
            };
            p.frame(&frame).unwrap();
        }
        let out = String::from_utf8(p.into_inner().bytes).unwrap();
        // Besides the channel's `last_interest_dt` update, one line per frame.
        let summaries = out
            .lines()
            .filter(|l| !l.contains("last_interest_dt"))
            .count();
        assert_eq!(summaries, 3, "{v}: {out}");
        let want = [
            format!("#general Marc Demo: capture {v} hello & bye é"),
            "Marc Demo is typing in #general".to_string(),
            format!("Marc Demo is {status}"),
        ];
        for w in &want {
            assert!(out.contains(w.as_str()), "{v}: missing {w:?} in\n{out}");
        }
        assert!(!out.contains("<mark.brown23"), "{v}: {out}");
        assert!(
            !out.contains("partner "),
            "{v}: a person left unnamed: {out}"
        );
    }
}
