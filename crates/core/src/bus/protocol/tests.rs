use super::*;

/// Verbatim frames from a real Odoo 18.0 (see crates/core/fixtures/odoo18/README.md).
const HELLO: &str = include_str!("../../../fixtures/odoo18/new_message_hello.json");
const NON_ASCII: &str = include_str!("../../../fixtures/odoo18/new_message_non_ascii.json");
const OWN_POST: &str = include_str!("../../../fixtures/odoo18/own_post_with_member_update.json");
const PRESENCE_REPLAY: &str = include_str!("../../../fixtures/odoo18/presence_replay.json");
const PRESENCE_AWAY: &str = include_str!("../../../fixtures/odoo18/presence_away.json");

fn ids_and_kinds(text: &str) -> Vec<(u64, String)> {
    decode_batch(text)
        .unwrap()
        .into_iter()
        .map(|n| (n.id, n.kind.into_owned()))
        .collect()
}

fn err(text: &str) -> String {
    decode_batch(text).unwrap_err().to_string()
}

#[test]
fn decodes_real_odoo18_frames_in_order() {
    assert_eq!(
        ids_and_kinds(HELLO),
        vec![
            (12, "mail.record/insert".to_string()),
            (14, "mail.record/insert".to_string()),
            (15, "discuss.channel/new_message".to_string()),
        ]
    );
    assert_eq!(
        ids_and_kinds(OWN_POST)
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        vec![20, 21, 22, 23]
    );
    assert_eq!(
        ids_and_kinds(PRESENCE_REPLAY),
        (28..=32)
            .map(|id| (id, "bus.bus/im_status_updated".to_string()))
            .collect::<Vec<_>>()
    );
    let away = decode_batch(PRESENCE_AWAY).unwrap();
    assert_eq!(away.len(), 1);
    assert_eq!(
        away[0].payload.get(),
        r#"{"im_status": "away", "partner_id": 7}"#
    );
}

#[test]
fn payload_is_the_exact_slice_of_the_frame() {
    for frame in [HELLO, NON_ASCII, OWN_POST, PRESENCE_REPLAY] {
        for n in decode_batch(frame).unwrap() {
            let raw = n.payload.get();
            assert!(raw.starts_with('{') && raw.ends_with('}'), "{raw}");
            // Borrowed, not copied: the payload points into the frame text.
            let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
            assert!(
                frame_range.contains(&(raw.as_ptr() as usize)),
                "payload of {} was copied",
                n.id
            );
        }
    }
}

#[test]
fn escapes_in_payload_are_kept_untouched() {
    let batch = decode_batch(NON_ASCII).unwrap();
    let message = batch
        .iter()
        .find(|n| n.kind == "discuss.channel/new_message")
        .unwrap();
    assert_eq!(message.id, 19);
    let raw = message.payload.get();
    assert!(
        raw.contains(r"caf\u00e9 \ud83d\ude00 <b>x</b> &amp; y"),
        "{raw}"
    );
    // And it is still valid JSON meaning the real characters.
    let value: serde_json::Value = serde_json::from_str(raw).unwrap();
    assert_eq!(
        value["data"]["mail.message"][0]["body"],
        "<p>café 😀 <b>x</b> &amp; y</p>"
    );
}

#[test]
fn type_is_borrowed_unless_escaped() {
    let batch = decode_batch(HELLO).unwrap();
    assert!(batch.iter().all(|n| matches!(n.kind, Cow::Borrowed(_))));

    let escaped =
        r#"[{"id": 1, "message": {"type": "discuss.channel\/new_\u006dessage", "payload": {}}}]"#;
    let batch = decode_batch(escaped).unwrap();
    assert_eq!(batch[0].kind, "discuss.channel/new_message");
    assert!(matches!(batch[0].kind, Cow::Owned(_)));
}

#[test]
fn keys_in_any_order_extra_keys_and_any_spacing() {
    let frames = [
        r#"[{"message":{"payload":{"a":1},"type":"t","extra":[1,{"x":null}]},"id":5,"channel":"ignored"}]"#,
        "[ {\n\t\"id\" : 5 ,\r\n \"message\" : { \"type\" : \"t\" , \"payload\" : {\"a\":1} } } ]\n",
        r#"  [{"id": 5, "message": {"type": "t", "payload": {"a":1}}}]  "#,
    ];
    for frame in frames {
        let batch = decode_batch(frame).unwrap_or_else(|e| panic!("{frame}: {e}"));
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].id, 5);
        assert_eq!(batch[0].kind, "t");
        let payload: serde_json::Value = serde_json::from_str(batch[0].payload.get()).unwrap();
        assert_eq!(payload, serde_json::json!({"a": 1}));
    }
}

#[test]
fn missing_or_null_payload_is_json_null() {
    let batch = decode_batch(r#"[{"id": 1, "message": {"type": "a"}}, {"id": 2, "message": {"type": "b", "payload": null}}]"#)
        .unwrap();
    assert_eq!(batch[0].payload.get(), "null");
    assert_eq!(batch[1].payload.get(), "null");
}

#[test]
fn scalar_and_array_payloads_are_kept() {
    let batch = decode_batch(r#"[{"id": 1, "message": {"type": "a", "payload": "text"}}, {"id": 2, "message": {"type": "b", "payload": [1, 2]}}, {"id": 3, "message": {"type": "c", "payload": 1.5e3}}]"#).unwrap();
    let raws: Vec<&str> = batch.iter().map(|n| n.payload.get()).collect();
    assert_eq!(raws, vec![r#""text""#, "[1, 2]", "1.5e3"]);
}

#[test]
fn huge_payload_and_large_batch() {
    let body = "x".repeat(3 << 20);
    let frame =
        format!(r#"[{{"id": 1, "message": {{"type": "big", "payload": {{"body": "{body}"}}}}}}]"#);
    let batch = decode_batch(&frame).unwrap();
    assert_eq!(
        batch[0].payload.get().len(),
        body.len() + r#"{"body": ""}"#.len()
    );

    let many: Vec<String> = (1..=5000)
        .map(|id| {
            format!(r#"{{"id": {id}, "message": {{"type": "t", "payload": {{"n": {id}}}}}}}"#)
        })
        .collect();
    let frame = format!("[{}]", many.join(", "));
    let batch = decode_batch(&frame).unwrap();
    assert_eq!(batch.len(), 5000);
    assert_eq!(batch[4999].id, 5000);
    assert_eq!(batch[4999].payload.get(), r#"{"n": 5000}"#);
}

#[test]
fn largest_id_fits() {
    let frame = format!(r#"[{{"id": {}, "message": {{"type": "t"}}}}]"#, u64::MAX);
    assert_eq!(decode_batch(&frame).unwrap()[0].id, u64::MAX);
    let over = r#"[{"id": 18446744073709551616, "message": {"type": "t"}}]"#;
    assert_eq!(
        err(over),
        "element 0: id 18446744073709551616 is not a non-negative integer"
    );
}

#[test]
fn structural_errors_have_short_reasons() {
    let cases = [
        ("", "empty frame"),
        (" \n ", "empty frame"),
        ("{}", "not a JSON array"),
        (r#""text""#, "not a JSON array"),
        ("null", "not a JSON array"),
        ("[]", "empty batch (Odoo never sends one)"),
        (" [ ] ", "empty batch (Odoo never sends one)"),
        (r#"[{"message": {"type": "t"}}]"#, "element 0 has no id"),
        (
            r#"[{"id": 1, "message": {"type": "a"}}, {"id": 2, "message": {"type": "b"}}, {"id": 3, "message": {"type": "c"}}, {"message": {}}]"#,
            "element 3 has no id",
        ),
        (
            r#"[{"id": 1, "message": {"type": "a"}}, {"id": 2, "message": {"payload": {}}}]"#,
            "element 1 (id 2) has no type",
        ),
        (r#"[{"id": 1}]"#, "element 0 (id 1) has no message"),
        (
            r#"[{"id": "12", "message": {"type": "t"}}]"#,
            r#"element 0: id "12" is not a non-negative integer"#,
        ),
        (
            r#"[{"id": -1, "message": {"type": "t"}}]"#,
            "element 0: id -1 is not a non-negative integer",
        ),
        (
            r#"[{"id": 1.5, "message": {"type": "t"}}]"#,
            "element 0: id 1.5 is not a non-negative integer",
        ),
        (
            r#"[{"id": null, "message": {"type": "t"}}]"#,
            "element 0: id null is not a non-negative integer",
        ),
    ];
    for (frame, want) in cases {
        assert_eq!(err(frame), want, "for {frame:?}");
    }
}

#[test]
fn type_errors_name_the_element_without_positions() {
    let cases = [
        (
            r#"[{"id": 1, "message": {"type": "a"}}, 7]"#,
            "element 1: invalid type: integer `7`, expected a notification object",
        ),
        (
            r#"[{"id": 1, "message": null}]"#,
            "element 0: invalid type: null, expected a message object",
        ),
        (
            r#"[{"id": 1, "message": {"type": 5}}]"#,
            "element 0: invalid type: integer `5`, expected a string",
        ),
    ];
    for (frame, start) in cases {
        let e = err(frame);
        assert!(e.starts_with(start), "{e}");
        assert!(!e.contains(" at line "), "{e}");
    }
}

#[test]
fn broken_json_says_invalid_json_with_position() {
    let e = err(r#"[{"id": 1, "message": {"type": "a", "payload": {"x": "#);
    assert!(
        e.starts_with("element 0: invalid JSON: EOF while parsing"),
        "{e}"
    );
    let e = err(r#"[{"id": 1, "message": {"type": "a"}}] trailing"#);
    assert!(
        e.starts_with("invalid JSON: trailing characters at line 1 column"),
        "{e}"
    );
    let e = err(r#"[{"id": 1, "message": {"type": "a", "payload": NaN}}]"#);
    assert!(
        e.starts_with("element 0: invalid JSON: expected value"),
        "{e}"
    );
    let e = err("[{\"id\": 1, \"message\": {\"type\": \"a\u{1}b\"}}]");
    assert!(e.contains("control character"), "{e}");
    let e = err(r#"[{"id": 1, "message": {"type": "\ud83d"}}]"#);
    assert!(e.contains("invalid JSON"), "{e}");
}

#[test]
fn astral_characters_as_surrogate_pairs_decode() {
    let batch = decode_batch(
        r#"[{"id": 1, "message": {"type": "emoji/\ud83d\ude00", "payload": "\ud83d\ude00"}}]"#,
    )
    .unwrap();
    assert_eq!(batch[0].kind, "emoji/😀");
    assert_eq!(batch[0].payload.get(), r#""\ud83d\ude00""#);
}

#[test]
fn every_truncation_of_a_real_frame_is_an_error_not_a_panic() {
    for frame in [HELLO, NON_ASCII, OWN_POST] {
        let mut cut = 0;
        for (i, _) in frame.char_indices() {
            assert!(
                decode_batch(&frame[..i]).is_err(),
                "prefix of {i} bytes decoded"
            );
            cut += 1;
        }
        assert!(cut > 1000);
        assert!(decode_batch(frame).is_ok());
    }
}

#[test]
fn long_bad_ids_are_clipped_in_the_message() {
    let id = format!("\"{}\"", "9".repeat(500));
    let e = err(&format!(r#"[{{"id": {id}, "message": {{"type": "t"}}}}]"#));
    assert!(e.len() < 120, "{e}");
    assert!(e.contains('…'), "{e}");
}

#[test]
fn subscribe_event_shape() {
    let channels = vec![
        "discuss.channel_1".to_string(),
        "odoo-presence-res.partner_7".to_string(),
    ];
    assert_eq!(
        subscribe_event(&channels, 42),
        r#"{"event_name":"subscribe","data":{"channels":["discuss.channel_1","odoo-presence-res.partner_7"],"last":42}}"#
    );
    assert_eq!(
        subscribe_event(&[], 0),
        r#"{"event_name":"subscribe","data":{"channels":[],"last":0}}"#
    );
    // Odd channel strings are escaped, not mangled.
    let odd = vec!["a\"b\\c\nd é".to_string()];
    let v: serde_json::Value = serde_json::from_str(&subscribe_event(&odd, 1)).unwrap();
    assert_eq!(v["data"]["channels"][0], "a\"b\\c\nd é");
}

#[test]
fn update_presence_event_has_both_keys() {
    assert_eq!(
        update_presence_event(0),
        r#"{"event_name":"update_presence","data":{"inactivity_period":0,"im_status_ids_by_model":{}}}"#
    );
    let v: serde_json::Value = serde_json::from_str(&update_presence_event(1_800_001)).unwrap();
    assert_eq!(v["data"]["inactivity_period"], 1_800_001);
}

#[test]
fn arbitrary_event() {
    let data =
        serde_json::from_str::<&RawValue>(r#"{"inactivity_period": 0, "x": [1, "é"]}"#).unwrap();
    assert_eq!(
        event("update_presence", Some(data)),
        r#"{"event_name":"update_presence","data":{"inactivity_period": 0, "x": [1, "é"]}}"#
    );
    assert_eq!(event("probe", None), r#"{"event_name":"probe"}"#);
    let v: serde_json::Value = serde_json::from_str(&event("we\"ird", None)).unwrap();
    assert_eq!(v["event_name"], "we\"ird");
}

#[test]
fn close_actions_follow_the_browser_worker() {
    use CloseAction::*;
    assert_eq!(close_action(Some(1000), ""), Stop);
    assert_eq!(close_action(Some(1000), "OUTDATED_VERSION"), Outdated);
    assert_eq!(close_action(Some(1000), "bye"), Stop);
    assert_eq!(close_action(Some(4001), ""), SessionExpired);
    assert_eq!(close_action(Some(4002), ""), ReconnectNow);
    for code in [
        1001, 1002, 1006, 1009, 1011, 1012, 1013, 4003, 4000, 3000, 0,
    ] {
        assert_eq!(close_action(Some(code), ""), Backoff, "{code}");
    }
    assert_eq!(close_action(None, ""), Backoff);
    assert_eq!(close_action(Some(4002), "OUTDATED_VERSION"), ReconnectNow);
}

#[test]
fn close_code_names() {
    assert_eq!(close_code_name(close_code::CLEAN), "CLEAN");
    assert_eq!(close_code_name(1008), "MESSAGE_VIOLATING_POLICY");
    assert_eq!(close_code_name(1013), "TRY_LATER");
    assert_eq!(close_code_name(4001), "SESSION_EXPIRED");
    assert_eq!(close_code_name(4002), "KEEP_ALIVE_TIMEOUT");
    assert_eq!(close_code_name(4003), "KILL_NOW");
    assert_eq!(close_code_name(4999), "UNKNOWN");
    assert_eq!(close_code_name(1004), "UNKNOWN");
}

#[test]
fn close_explanations_are_one_line_and_quote_the_reason_safely() {
    let e = close_explanation(4001, "");
    assert_eq!(
        e,
        "connection closed (4001 SESSION_EXPIRED): the session is no longer valid (logged out, expired, or the password changed); log in again"
    );
    let e = close_explanation(1000, "OUTDATED_VERSION");
    assert!(
        e.starts_with(
            "connection closed (1000 CLEAN): the server runs a different websocket worker version"
        ),
        "{e}"
    );
    assert!(!e.contains("reason"), "{e}");
    let e = close_explanation(1002, "Frame must be masked");
    assert!(e.ends_with(r#"(reason: "Frame must be masked")"#), "{e}");
    let e = close_explanation(1007, "bad\n\x1b[31mreason");
    assert!(!e.contains('\n') && !e.contains('\x1b'), "{e:?}");
    let e = close_explanation(4000, &"r".repeat(1000));
    assert!(
        e.starts_with("connection closed (4000): closed with an application-specific code"),
        "{e}"
    );
    assert!(e.chars().count() < 250, "{e}");
    for code in (1000..=1015).chain([3000, 4001, 4002, 4003, 4500, 5000, 0]) {
        let e = close_explanation(code, "");
        assert!(!e.contains('\n') && e.contains(&code.to_string()), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// The fast path (protocol/fast.rs) against the serde decoder
// ---------------------------------------------------------------------------------------------

/// A frame shaped like the benchmark's flood (Python spacing, HTML bodies, a Store insert).
fn flood_like_frame() -> String {
    let items: Vec<String> = (0..10)
        .map(|i| {
            let payload = if i % 10 == 3 {
                r#"{"discuss.channel": [{"id": 1, "description": "xxxx\u00e9\ud83d\ude00 \"q\" \\ \/"}]}"#
                    .to_string()
            } else {
                format!(
                    r#"{{"data": {{"mail.message": [{{"author": {{"id": 3, "type": "partner"}}, "body": "<p>hello {i}</p>", "id": {i}, "model": "discuss.channel", "res_id": 1, "n": -1.5e+3, "z": 0, "f": [true, false, null, [], {{}}]}}]}}, "id": 1}}"#
                )
            };
            format!(
                r#"{{"id": {}, "message": {{"type": "discuss.channel/new_message", "payload": {payload}}}}}"#,
                100 + i
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

#[test]
fn the_fast_path_takes_plain_frames_and_agrees_with_serde() {
    let flood = flood_like_frame();
    for frame in [
        HELLO.trim(),
        NON_ASCII.trim(),
        OWN_POST.trim(),
        PRESENCE_REPLAY.trim(),
        PRESENCE_AWAY.trim(),
        flood.as_str(),
    ] {
        let fast = fast::decode(frame).unwrap_or_else(|| panic!("fast path declined {frame}"));
        assert_eq!(summary(&Ok(fast)), summary(&decode_with_serde(frame)));
    }
}

#[test]
fn the_fast_path_declines_what_is_not_plain_json() {
    let cases = [
        r#"[{"id": 1, "message": {"type": "a", "payload": 01}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": 1.}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": .5}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": -}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": 1e}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": "\x"}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": "\u12g4"}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": "open}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": tru}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": [1 2]}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": [1,]}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": {"a" 1}}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": {"a": 1,}}}]"#,
        r#"[{"id": 1, "message": {"type": "a", "payload": {"a": 1 "b": 2}}}]"#,
        "[{\"id\": 1, \"message\": {\"type\": \"a\", \"payload\": \"tab\there\"}}]",
        "[{\"id\": 1,\n\"message\": {\"type\": \"a\"}}]",
        r#"[{"id": 1, "message": {"type": "a"}},]"#,
        r#"[{"id": 1, "message": {"type": "a"}}] x"#,
        r#"[{"id": 01, "message": {"type": "a"}}]"#,
        r#"[{"id": 1.0, "message": {"type": "a"}}]"#,
        r#"[{"id": -1, "message": {"type": "a"}}]"#,
        r#"[{"id": 18446744073709551616, "message": {"type": "a"}}]"#,
        r#"[{"id": "1", "message": {"type": "a"}}]"#,
        r#"[{"i\u0064": 1, "message": {"type": "a"}}]"#,
        r#"[{"id": 1, "message": {"type": "a\/b"}}]"#,
        r#"[{"id": 1, "message": {"payload": 1}}]"#,
        r#"[{"id": 1}]"#,
        r#"[{"id": 1, "message": []}]"#,
        r#"[]"#,
        r#"{}"#,
        "",
    ];
    for case in cases {
        assert!(fast::decode(case).is_none(), "fast path took {case}");
    }
    let deep = format!(
        r#"[{{"id": 1, "message": {{"type": "a", "payload": {}1{}}}}}]"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(fast::decode(&deep).is_none());
}

#[test]
fn the_fast_path_agrees_with_serde_on_mutated_frames() {
    // Random edits (xorshift, fixed seed) of real frames: whatever the fast path accepts, the
    // serde decoder decodes the same way.
    const ALPHABET: &[u8] = br#"{}[],:" \u0123456789abcdefxeE.-+tnl/"#;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let flood = flood_like_frame();
    let (mut taken, mut declined) = (0, 0);
    for frame in [
        HELLO.trim(),
        OWN_POST.trim(),
        PRESENCE_REPLAY.trim(),
        &flood,
    ] {
        for _ in 0..3000 {
            let mut bytes = frame.as_bytes().to_vec();
            for _ in 0..1 + random(3) {
                let at = random(bytes.len());
                match random(4) {
                    0 => bytes[at] = ALPHABET[random(ALPHABET.len())],
                    1 => {
                        bytes.remove(at);
                    }
                    2 => bytes.insert(at, ALPHABET[random(ALPHABET.len())]),
                    _ => {
                        let end = (at + random(12)).min(bytes.len());
                        let copy = bytes[at..end].to_vec();
                        let to = random(bytes.len());
                        bytes.splice(to..to, copy);
                    }
                }
            }
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            match fast::decode(text) {
                Some(batch) => {
                    taken += 1;
                    assert_eq!(
                        summary(&Ok(batch)),
                        summary(&decode_with_serde(text)),
                        "{text}"
                    );
                }
                None => declined += 1,
            }
        }
    }
    assert!(
        taken > 500 && declined > 500,
        "{taken} taken, {declined} declined"
    );
}
