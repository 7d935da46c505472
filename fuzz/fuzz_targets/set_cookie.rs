//! `Set-Cookie` header values from the server, as the HTTP client and the websocket handshake
//! read them (one parser: `odoo::client::session_cookie_change`); and the log redaction that
//! must hide a session id wherever it appears.
#![no_main]

use cookie::time::OffsetDateTime;
use libfuzzer_sys::fuzz_target;
use odoo_bus_core::odoo::client::{CookieChange, redact, session_cookie_change};

const SID: &str =
    "UfZPnkrFQVwm4-49u15V9mqheZSpzaZjzUAxWroagcyDoXU_JLZa8MN5Xbe0Z2_TPDT7Ja1IGlskjdikwODV";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // One header value per line, as several Set-Cookie headers.
    let values: Vec<&str> = text.split('\n').collect();
    for v in &values {
        let _ = session_cookie_change([*v], OffsetDateTime::UNIX_EPOCH);
    }
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("fixed time");
    if let Some(CookieChange::Set(sid)) = session_cookie_change(values.iter().copied(), now) {
        assert!(!sid.expose().is_empty());
    }

    // The session id pasted anywhere in a logged body never survives redaction.
    let at = (data.first().copied().unwrap_or(0) as usize).min(text.len());
    let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let logged = format!("{}{SID}{}", &text[..at], &text[at..]);
    let clean = redact(&logged, &[SID]);
    assert!(!clean.contains(SID), "{clean}");
});
