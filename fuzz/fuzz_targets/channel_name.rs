//! Channel names from `subscribe` and `tail --channel`: whatever the user types is classified
//! as Odoo 18 would read it (`bus::channel::ChannelName`), without panicking; a canonical name
//! reads back as itself; the `--only-channels` selector accepts the same strings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odoo_bus_core::bus::channel::ChannelName;
use odoo_bus::output::filter::ChannelSelector;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = ChannelName::parse(text) {
        let canonical = name.canonical();
        let again = ChannelName::parse(&canonical)
            .unwrap_or_else(|e| panic!("canonical {canonical:?} of {text:?} is refused: {e}"));
        assert_eq!(again.canonical(), canonical, "canonical form of {text:?}");
        assert_eq!(again.discuss_id(), name.discuss_id());
        let _ = name.check_server(Some(18));
        let _ = name.check_server(Some(19));
    }
    let names: Vec<String> = text.split('\n').map(str::to_string).collect();
    let selector = ChannelSelector::new(&names);
    let payload: &serde_json::value::RawValue =
        serde_json::from_str(r#"{"id": 1, "partner_id": 3}"#).expect("fixed JSON");
    let _ = selector.is_empty();
    let _ = selector.accepts("discuss.channel/new_message", payload);
    let _ = selector.accepts("bus.bus/im_status_updated", payload);
});
