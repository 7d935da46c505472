//! The `odoo` HTTP layer used as a library against the emulator over real sockets: the calls
//! `send`, `subscribe`, `tail` and `doctor` build on, with the exact request shapes Odoo expects.

mod support;

use std::sync::{Arc, Mutex};

use odoo_bus_core::odoo::rpc::RpcError;
use odoo_bus_core::odoo::session::{AuthOutcome, DatabaseList};
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::odoo::{ClientOptions, OdooClient};
use odoo_bus_core::secret::{Password, SessionId};
use odoo_bus_core::trace::Trace;
use odoo_bus_emulator::{EmulatorConfig, UserSpec};
use support::TestEnv;

fn client(env: &TestEnv, session: Option<SessionId>) -> OdooClient {
    let url = ServerUrl::parse(&env.url()).unwrap();
    OdooClient::new(url, session, ClientOptions::new(Trace::silent(), false)).unwrap()
}

#[tokio::test]
async fn authenticate_rotates_the_cookie_and_tells_the_listener() {
    let env = TestEnv::new();
    let mut c = client(&env, None);
    let seen: Arc<Mutex<Vec<SessionId>>> = Arc::default();
    let sink = seen.clone();
    c.on_session_rotated(move |sid| sink.lock().unwrap().push(sid.clone()));
    let version = c.version_info().await.unwrap();
    assert_eq!(
        (version.major, version.server_version.as_str()),
        (18, "18.0")
    );
    let outcome = c
        .authenticate("odoo", "demo", &Password::new("demo"))
        .await
        .unwrap();
    let AuthOutcome::LoggedIn(info) = outcome else {
        panic!("demo has no 2FA")
    };
    assert_eq!((info.uid, info.partner_id), (Some(6), Some(7)));
    assert_eq!(info.websocket_worker_version.as_deref(), Some("18.0-2"));
    let current = c.session().unwrap();
    assert!(env.control().session_is_valid(current.expose()));
    // Anonymous cookie from version_info, then the rotated one from authenticate.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&current));
    assert!(seen.len() >= 2, "{} rotations seen", seen.len());
    assert!(c.check().await.unwrap());
}

#[tokio::test]
async fn check_session_info_and_destroy() {
    let env = TestEnv::new();
    let sid = SessionId::new(env.control().create_session(2));
    let c = client(&env, Some(sid.clone()));
    assert!(c.check().await.unwrap());
    let info = c.session_info().await.unwrap();
    assert_eq!(info.username.as_deref(), Some("admin"));
    assert_eq!(info.db.as_deref(), Some("odoo"));
    c.destroy().await.unwrap();
    assert!(!env.control().session_is_valid(sid.expose()));
    // destroy hands out a fresh anonymous session, which the client now holds.
    assert_ne!(c.session(), Some(sid));
    assert!(!c.check().await.unwrap());
    assert_eq!(
        c.session_info().await.unwrap_err(),
        RpcError::SessionExpired
    );
}

#[tokio::test]
async fn database_listing_can_be_disabled() {
    let env = TestEnv::with_config(EmulatorConfig {
        list_db: false,
        ..EmulatorConfig::fast()
    });
    assert_eq!(
        client(&env, None).database_list().await.unwrap(),
        DatabaseList::Disabled
    );
    let env = TestEnv::new();
    assert_eq!(
        client(&env, None).database_list().await.unwrap(),
        DatabaseList::Listed(vec!["odoo".into()])
    );
}

#[tokio::test]
async fn the_totp_form_flow_finishes_a_two_factor_login() {
    let env = TestEnv::with_config(EmulatorConfig {
        dbs: vec!["odoo".into(), "other".into()],
        ..EmulatorConfig::fast()
    });
    let ids = env.control().add_user(UserSpec {
        totp_code: Some("246810".into()),
        ..UserSpec::internal("bob", "bob-pw", "Bob")
    });
    let c = client(&env, None);
    let pw = Password::new("bob-pw");
    assert_eq!(
        c.authenticate("odoo", "bob", &pw).await.unwrap(),
        AuthOutcome::TwoFactorRequired
    );
    let wrong = c
        .totp_form_login("odoo", "bob", &pw, "111111")
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, RpcError::Odoo { name, .. } if name == "auth_totp.verification_failed"),
        "{wrong:?}"
    );
    let bad_password = client(&env, None)
        .totp_form_login("odoo", "bob", &Password::new("nope"), "246810")
        .await
        .unwrap_err();
    assert!(bad_password.is_access_denied(), "{bad_password:?}");
    let c = client(&env, None);
    let info = c
        .totp_form_login("odoo", "bob", &pw, "246810")
        .await
        .unwrap();
    assert_eq!(info.uid, Some(ids.uid));
    assert!(
        env.control()
            .session_is_valid(c.session().unwrap().expose())
    );
}

#[tokio::test]
async fn post_a_message_and_check_channel_access() {
    let env = TestEnv::new();
    let demo = client(&env, Some(SessionId::new(env.control().create_session(6))));
    let general = demo
        .readable_channel(odoo_bus_core::odoo::Flavor::V18, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            general.id,
            general.name.as_str(),
            general.channel_type.as_str()
        ),
        (1, "general", "channel")
    );
    // "Administrators" is for the admin group only; 999 does not exist.
    assert_eq!(
        demo.readable_channel(odoo_bus_core::odoo::Flavor::V18, 2)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        demo.readable_channel(odoo_bus_core::odoo::Flavor::V18, 999)
            .await
            .unwrap(),
        None
    );
    let before = env.control().max_id();
    let id = demo
        .post_message(
            odoo_bus_core::odoo::Flavor::V18,
            1,
            "<p>hello &amp; bye</p>",
            Some(0.25),
        )
        .await
        .unwrap();
    assert!(id > 0);
    assert!(
        env.control().max_id() > before,
        "the post made bus notifications"
    );
    let err = demo
        .post_message(odoo_bus_core::odoo::Flavor::V18, 2, "<p>no</p>", None)
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::NotFound(_)), "{err:?}");
}
