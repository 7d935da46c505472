//! Discovery and session routes: version_info, database/list, session/authenticate, check,
//! get_session_info, destroy, and the http `/web/session/logout`.

use hyper::{StatusCode, header};
use serde_json::{Value, json};

use super::super::mail;
use super::super::model::{Session, User};
use super::super::pyjson::{Dict, Nested};
use super::super::state::{Inner, Shared};
use super::super::time;
use super::call::{Ctx, Params, RpcError, require};
use super::exchange::{Reply, Req};

pub const TOO_MANY_FAILURES: &str =
    "Too many login failures, please wait a bit before trying again.";

pub fn version_info(ctx: &Ctx) -> Nested {
    let cfg = &ctx.shared.cfg;
    Dict::new()
        .set("server_version", cfg.server_version.clone())
        .set("server_version_info", cfg.server_version_info.clone())
        .set("server_serie", cfg.server_version.clone())
        .set("protocol_version", 1)
        .into()
}

pub fn database_list(ctx: &Ctx) -> Result<Nested, RpcError> {
    if !ctx.shared.cfg.list_db {
        return Err(RpcError::access_denied("Access Denied"));
    }
    Ok(Nested::Plain(json!(ctx.shared.cfg.dbs)))
}

/// The outcome of checking a login and password (shared with the form login).
pub enum Credentials {
    /// Finished: the session is logged in.
    LoggedIn(i64),
    /// Right password, 2FA pending.
    NeedsTotp(i64),
}

/// `Session.authenticate` + `_assert_can_auth`: cooldown, password, failure counting.
pub fn check_credentials(
    shared: &Shared,
    inner: &mut Inner,
    peer: std::net::IpAddr,
    db: &str,
    login: &str,
    password: &str,
) -> Result<Credentials, String> {
    let now = std::time::Instant::now();
    let cfg = &shared.cfg;
    if inner.db.on_cooldown(
        peer,
        cfg.login_cooldown_after,
        cfg.login_cooldown_duration,
        now,
    ) {
        return Err(TOO_MANY_FAILURES.to_string());
    }
    let user: Option<&User> = (db == inner.db.name)
        .then(|| inner.db.user_by_login(login))
        .flatten()
        .filter(|u| !u.password.is_empty() && u.password == password);
    match user {
        None => {
            inner.db.record_login_failure(peer, now);
            Err("Access Denied".to_string())
        }
        Some(u) => {
            let uid = u.uid;
            let totp = u.totp_code.is_some();
            inner.db.login_failures.remove(&peer);
            Ok(if totp {
                Credentials::NeedsTotp(uid)
            } else {
                Credentials::LoggedIn(uid)
            })
        }
    }
}

/// `Session.finalize` + rotation: log `uid` into the session and give it a new sid.
pub fn finalize(inner: &mut Inner, old_sid: &str, uid: i64, db: &str) -> String {
    let (login, stamp) = inner
        .db
        .users
        .get(&uid)
        .map(|u| (u.login.clone(), u.security_stamp))
        .unwrap_or_default();
    let session = Session {
        db: Some(db.to_string()),
        uid: Some(uid),
        login: Some(login),
        pre_uid: None,
        token: stamp,
        websocket_session: false,
    };
    inner.stats.logins += 1;
    inner.db.rotate(old_sid, session)
}

pub fn authenticate(ctx: &mut Ctx, params: &Params) -> Result<Nested, RpcError> {
    require(params, &["db", "login", "password"], "Session.authenticate")?;
    let text = |k: &str| match &params[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (db, login, password) = (text("db"), text("login"), text("password"));
    if !ctx.shared.cfg.dbs.contains(&db) {
        return Err(RpcError::access_error("Database not found."));
    }
    let mut inner = ctx.shared.lock();
    match check_credentials(ctx.shared, &mut inner, ctx.req.peer, &db, &login, &password) {
        Err(message) => Err(RpcError::access_denied(message)),
        Ok(Credentials::NeedsTotp(uid)) => {
            if let Some(s) = inner.db.sessions.get_mut(&ctx.sid) {
                s.pre_uid = Some(uid);
                s.uid = None;
            }
            Ok(Dict::new().set("uid", Value::Null).into())
        }
        Ok(Credentials::LoggedIn(uid)) => {
            ctx.sid = finalize(&mut inner, &ctx.sid, uid, &db);
            Ok(session_info(ctx.shared, &inner, uid, ctx.req))
        }
    }
}

pub fn get_session_info(ctx: &Ctx) -> Result<Nested, RpcError> {
    let uid = ctx.uid.ok_or_else(RpcError::session_expired)?;
    let inner = ctx.shared.lock();
    Ok(session_info(ctx.shared, &inner, uid, ctx.req))
}

/// `/web/session/destroy`: log out, forget the db, rotate the sid.
pub fn destroy(ctx: &mut Ctx) -> Result<Nested, RpcError> {
    let mut inner = ctx.shared.lock();
    let old = ctx.sid.clone();
    ctx.sid = inner.db.rotate(&old, Session::anonymous(None));
    ctx.extra_cookies.push(format!(
        "cids=; Expires={}; Max-Age=0; Path=/",
        time::http_date_in_days(365)
    ));
    Ok(Nested::Plain(Value::Null))
}

/// `GET /web/session/logout?redirect=`: log out keeping the db, rotate, 303.
pub fn logout_http(shared: &Shared, req: &Req) -> Reply {
    let sid = super::exchange::request_session(shared, req);
    let target = req.query_param("redirect").unwrap_or("/odoo").to_string();
    let mut inner = shared.lock();
    let db = inner.db.sessions.get(&sid).and_then(|s| s.db.clone());
    let new_sid = inner.db.rotate(&sid, Session::anonymous(db));
    Reply::redirect(StatusCode::SEE_OTHER, &target)
        .header(
            header::SET_COOKIE,
            format!(
                "cids=; Expires={}; Max-Age=0; Path=/",
                time::http_date_in_days(365)
            ),
        )
        .session_cookie(&new_sid, shared.cfg.session_max_age)
        .nosniff()
}

/// `ir.http.session_info()` with the overrides of bus, mail and web, keys in Odoo's order
/// (measured on a real 18.0 for admin).
pub fn session_info(shared: &Shared, inner: &Inner, uid: i64, req: &Req) -> Nested {
    let db = &inner.db;
    let Some(user) = db.users.get(&uid) else {
        return Nested::Plain(json!({}));
    };
    let partner = db.partners.get(&user.partner_id);
    let cfg = &shared.cfg;
    let host = req
        .header(header::HOST.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| format!("127.0.0.1:{}", shared.port));
    let user_context = Nested::from(
        Dict::new()
            .set("lang", "en_US")
            .set("tz", "Europe/Brussels")
            .set("uid", uid),
    );
    let mut d = vec![
        ("uid".to_string(), Nested::Plain(json!(uid))),
        ("is_system".into(), Nested::Plain(json!(user.is_system()))),
        ("is_admin".into(), Nested::Plain(json!(user.is_system()))),
        ("is_public".into(), Nested::Plain(json!(false))),
        (
            "is_internal_user".into(),
            Nested::Plain(json!(user.internal)),
        ),
        ("user_context".into(), user_context),
        ("db".into(), Nested::Plain(json!(db.name))),
        (
            "user_settings".into(),
            Nested::Plain(mail::store_data(db, uid)["Store"]["settings"].clone()),
        ),
        (
            "server_version".into(),
            Nested::Plain(json!(cfg.server_version)),
        ),
        (
            "server_version_info".into(),
            Nested::Plain(cfg.server_version_info.clone()),
        ),
        (
            "support_url".into(),
            Nested::Plain(json!("https://www.odoo.com/buy")),
        ),
        (
            "name".into(),
            Nested::Plain(json!(partner.map(|p| p.name.clone()).unwrap_or_default())),
        ),
        ("username".into(), Nested::Plain(json!(user.login))),
        (
            "partner_write_date".into(),
            Nested::Plain(json!(
                partner.map(|p| p.write_date.clone()).unwrap_or_default()
            )),
        ),
        (
            "partner_display_name".into(),
            Nested::Plain(json!(
                partner.map(|p| p.display_name.clone()).unwrap_or_default()
            )),
        ),
        ("partner_id".into(), Nested::Plain(json!(user.partner_id))),
        (
            "web.base.url".into(),
            Nested::Plain(json!(format!("http://{host}"))),
        ),
        ("active_ids_limit".into(), Nested::Plain(json!(20000))),
        ("profile_session".into(), Nested::Plain(Value::Null)),
        ("profile_collectors".into(), Nested::Plain(Value::Null)),
        ("profile_params".into(), Nested::Plain(Value::Null)),
        (
            "max_file_upload_size".into(),
            Nested::Plain(json!(134_217_728)),
        ),
        ("home_action_id".into(), Nested::Plain(json!(false))),
        (
            "cache_hashes".into(),
            Nested::Plain(
                json!({"translations": "fadbc43b50bbbf6d54d486a19e154c7b82bc1a6b", "load_menus": "8731d32c98d990e8d207c0a030b311edefedb9e6d826f90b15def3453ecb7144"}),
            ),
        ),
        (
            "currencies".into(),
            Nested::Plain(json!({"1": {"symbol": "$", "position": "before", "digits": [69, 2]}})),
        ),
        (
            "bundle_params".into(),
            Nested::Plain(json!({"lang": "en_US"})),
        ),
        ("test_mode".into(), Nested::Plain(json!(false))),
        ("view_info".into(), Nested::Plain(view_info())),
    ];
    if user.internal {
        d.push((
            "user_companies".into(),
            Nested::Plain(json!({"current_company": 1, "allowed_companies": {"1": {"id": 1, "name": "YourCompany", "sequence": 0, "child_ids": [], "parent_id": false}}, "disallowed_ancestor_companies": {}})),
        ));
        d.push(("show_effect".into(), Nested::Plain(json!(true))));
        d.push((
            "display_switch_company_menu".into(),
            Nested::Plain(json!(false)),
        ));
    }
    d.push((
        "websocket_worker_version".into(),
        Nested::Plain(json!(cfg.websocket_worker_version)),
    ));
    d.push(("tour_enabled".into(), Nested::Plain(json!(false))));
    d.push(("current_tour".into(), Nested::Plain(Value::Null)));
    d.push(("storeData".into(), Nested::Plain(mail::store_data(db, uid))));
    d.push(("odoobot_initialized".into(), Nested::Plain(json!(false))));
    d.push(("iap_company_enrich".into(), Nested::Plain(json!(true))));
    Nested::Ordered(d)
}

fn view_info() -> Value {
    let v = |name: &str, icon: &str, multi: bool| json!({"display_name": name, "icon": icon, "multi_record": multi});
    json!({
        "list": v("List", "oi oi-view-list", true),
        "form": v("Form", "fa fa-address-card", false),
        "graph": v("Graph", "fa fa-area-chart", true),
        "pivot": v("Pivot", "oi oi-view-pivot", true),
        "calendar": v("Calendar", "fa fa-calendar", true),
        "kanban": v("Kanban", "oi oi-view-kanban", true),
        "search": v("Search", "oi oi-search", true),
        "activity": v("Activity", "fa fa-clock-o", true),
    })
}
