//! The test environment helper itself (tests/support): what `logged_in` leaves in the config.

mod support;

#[test]
fn test_env_writes_a_logged_in_profile() {
    let env = support::TestEnv::new();
    let session = env.logged_in("demo");
    let text = env.config_text();
    for needle in [
        "[profiles.default]",
        &format!("url = \"{}\"", env.url()),
        "db = \"odoo\"",
        "uid = 6",
        "partner_id = 7",
        "server_version_major = 18",
        "websocket_worker_version = \"18.0-2\"",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    assert!(text.contains(session.expose()));
    assert!(env.control().session_is_valid(session.expose()));
    env.logged_in_profile("other", "admin");
    assert!(env.config_text().contains("[profiles.other]"));
    assert!(env.config_path().starts_with(env.home()));
}
