//! Values a user types on the command line: durations (`--timeout`, `--listen`), type globs
//! (`--type`, `--exclude-type`) and server URLs. The first byte chooses which.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo_bus::cli::parse_duration;
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus::output::filter::TypeFilter;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(d) = parse_duration(text) {
                // What tail does with a --timeout: a deadline from now must not overflow.
                let _ = std::time::Instant::now().checked_add(d);
            }
        }
        1 => {
            // Patterns, then a type to match, separated by a tab.
            let (patterns, kind) = text.split_once('\t').unwrap_or((text, "discuss.channel/new_message"));
            let include: Vec<String> = patterns.split('\n').map(str::to_string).collect();
            if let Ok(filter) = TypeFilter::new(&include, &[]) {
                let _ = filter.accepts(kind);
            }
            if let Ok(filter) = TypeFilter::new(&[], &include) {
                let _ = filter.accepts(kind);
            }
        }
        _ => {
            if let Ok(url) = ServerUrl::parse(text) {
                let _ = url.websocket(Some("18.0-2"));
                let _ = url.route("/web/session/check");
                let _ = url.origin();
                let _ = url.host_header();
                let _ = url.cleartext_warning();
                let again = ServerUrl::parse(url.as_str())
                    .unwrap_or_else(|e| panic!("a normalised URL does not parse again: {e}: {}", url.as_str()));
                assert_eq!(again.as_str(), url.as_str(), "normalising is idempotent");
            }
        }
    }
});
