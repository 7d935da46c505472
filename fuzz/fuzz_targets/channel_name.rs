//! Channel names from `tail --channel` / `subscribe`: whatever the user types is classified
//! without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo_bus::output::filter::ChannelSelector;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let names: Vec<String> = text.split('\n').map(str::to_string).collect();
    let selector = ChannelSelector::new(&names);
    let payload: &serde_json::value::RawValue =
        serde_json::from_str(r#"{"id": 1, "partner_id": 3}"#).expect("fixed JSON");
    let _ = selector.is_empty();
    let _ = selector.accepts("discuss.channel/new_message", payload);
    let _ = selector.accepts("bus.bus/im_status_updated", payload);
});
