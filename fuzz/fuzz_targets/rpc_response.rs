//! An HTTP answer to a JSON-RPC call: status, content type and body as the server sent them.
//! Decoded as every command does, then turned into the user's one-line error, or read as a
//! session_info / post result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo_bus_core::odoo::discuss::message_id_from_post_result;
use odoo_bus_core::odoo::rpc::{self, ErrorContext};
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::odoo::SessionInfo;

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json; charset=utf-8"),
    Some("text/html; charset=utf-8"),
    Some("text/plain"),
    None,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = [200, 200, 200, 500, 502, 404, 303, 401][(data[0] & 7) as usize];
    let content_type = CONTENT_TYPES[(data[1] & 3) as usize];
    let body = &data[2..];
    let server = ServerUrl::parse("https://erp.example.com").expect("fixed URL");
    match rpc::decode_response(status, content_type, body) {
        Ok(value) => {
            let _ = message_id_from_post_result(&value);
            if let Ok(info) = serde_json::from_value::<SessionInfo>(value) {
                let _ = info.major_version();
            }
        }
        Err(e) => {
            for login in [false, true] {
                let err = e.user_error(&ErrorContext {
                    server: &server,
                    profile: "default",
                    login,
                });
                // One line, and no control character (an ESC from the server would reach
                // the terminal).
                assert!(!err.message.chars().any(char::is_control), "{:?}", err.message);
            }
        }
    }
    let snippet = rpc::text_snippet(body);
    assert!(!snippet.chars().any(char::is_control), "{snippet:?}");
});
