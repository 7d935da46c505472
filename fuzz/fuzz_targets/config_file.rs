//! The config file as a user (or an editor, or a crash) may leave it: parse it, and when it
//! parses, it must write back and parse again to the same profiles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo_bus_core::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::parse(text) {
        Ok(cfg) => {
            let Ok(again) = toml::to_string_pretty(&cfg) else {
                return;
            };
            let reparsed = config::parse(&again)
                .unwrap_or_else(|e| panic!("the config we write does not parse: {e}\n{again}"));
            assert_eq!(reparsed.profiles, cfg.profiles);
        }
        Err(e) => assert!(!e.chars().any(|c| c == '\n' || c == '\r'), "{e:?}"),
    }
});
