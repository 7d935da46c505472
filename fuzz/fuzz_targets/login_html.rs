//! The HTML of Odoo's login and two-factor pages: the CSRF token and the error alert are scraped
//! from whatever the server (or a proxy's error page) returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo_bus_core::odoo::session::{scrape_alert, scrape_csrf_token};

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    if let Some(token) = scrape_csrf_token(&html) {
        assert!(!token.is_empty());
    }
    if let Some(alert) = scrape_alert(&html) {
        assert!(!alert.is_empty());
        // It becomes part of a one-line error on the terminal: no newline, no ESC.
        assert!(!alert.chars().any(char::is_control), "{alert:?}");
    }
});
