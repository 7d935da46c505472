//! Discovery and session routes: version_info, database/list, session/authenticate, check,
//! get_session_info, destroy, and the http `/web/session/logout`.

use hyper::{StatusCode, header};
use serde_json::{Value, json};

use super::super::mail;
use super::super::model::{Session, User};
use super::super::personality::{INTERNAL_ONLY_KEYS, SYSTEM_ONLY_KEYS};
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
        .set("server_serie", cfg.version.server_serie())
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
        created: std::time::Instant::now(),
        next_sid: None,
        device_traces: Default::default(),
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
            if ctx.shared.cfg.version.authenticate_sets_cookie_twice() {
                // 19 answers with two identical `Set-Cookie: session_id=` lines (measured).
                ctx.extra_cookies.push(format!(
                    "session_id={}; Expires={}; Max-Age={}; HttpOnly; Path=/",
                    ctx.sid,
                    time::http_date_in_days(365),
                    ctx.shared.cfg.session_max_age
                ));
            }
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
    for name in ctx.shared.cfg.version.destroy_clears_cookies() {
        ctx.extra_cookies.push(format!(
            "{name}=; Expires={}; Max-Age=0; Path=/",
            time::http_date_in_days(365)
        ));
    }
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

/// `ir.http.session_info()` with the overrides of bus, mail and web: the personality says which
/// keys, in which order (measured on each real server for admin); this says what they hold.
pub fn session_info(shared: &Shared, inner: &Inner, uid: i64, req: &Req) -> Nested {
    let db = &inner.db;
    let Some(user) = db.users.get(&uid) else {
        return Nested::Plain(json!({}));
    };
    let partner = db.partners.get(&user.partner_id);
    let cfg = &shared.cfg;
    // Odoo stores `web.base.url` at each admin login from the address it saw then (through the
    // proxy fix); the emulator answers what this request would have stored.
    let base_url = crate::proxy_fix::seen(
        &req.headers,
        cfg.proxy_mode,
        &format!("127.0.0.1:{}", shared.port),
    )
    .base_url();
    let partner_text = |f: fn(&crate::model::Partner) -> &String| {
        json!(partner.map(|p| f(p).clone()).unwrap_or_default())
    };
    let value = |key: &str| -> Option<Nested> {
        let plain = |v: Value| Some(Nested::Plain(v));
        if let Some(v) = cfg.version.session_info_constant(key) {
            return plain(v);
        }
        match key {
            "uid" => plain(json!(uid)),
            "is_system" | "is_admin" => plain(json!(user.is_system())),
            "is_public" => plain(json!(false)),
            "is_internal_user" => plain(json!(user.internal)),
            "user_context" => Some(Nested::from(
                Dict::new()
                    .set("lang", "en_US")
                    .set("tz", "Europe/Brussels")
                    .set("uid", uid),
            )),
            "db" => plain(json!(db.name)),
            "registry_hash" => plain(json!(
                "5a69e8639e6deaa0b4c9727e43ad23abff955da16fd2ebb899ff13309167d285"
            )),
            "user_settings" => mail::user_settings(db, cfg.version, uid).map(Nested::Plain),
            "server_version" => plain(json!(cfg.server_version)),
            "server_version_info" => plain(cfg.server_version_info.clone()),
            "support_url" => plain(json!("https://www.odoo.com/buy")),
            "name" => plain(partner_text(|p| &p.name)),
            "username" => plain(json!(user.login)),
            "quick_login" => plain(json!(true)),
            "partner_write_date" => plain(partner_text(|p| &p.write_date)),
            "partner_display_name" => plain(partner_text(|p| &p.display_name)),
            "company_id" => plain(json!(1)),
            "partner_id" => plain(json!(user.partner_id)),
            "web.base.url" => plain(json!(base_url)),
            "active_ids_limit" => plain(json!(20000)),
            "profile_session" | "profile_collectors" | "profile_params" => plain(Value::Null),
            "max_file_upload_size" => plain(json!(134_217_728)),
            "home_action_id" => plain(json!(false)),
            "cache_hashes" => plain(
                json!({"translations": "fadbc43b50bbbf6d54d486a19e154c7b82bc1a6b", "load_menus": "8731d32c98d990e8d207c0a030b311edefedb9e6d826f90b15def3453ecb7144"}),
            ),
            "currencies" => {
                plain(json!({"1": {"symbol": "$", "position": "before", "digits": [69, 2]}}))
            }
            "bundle_params" => plain(json!({"lang": "en_US"})),
            "test_mode" => plain(json!(false)),
            "view_info" => plain(view_info()),
            "groups" => plain(json!({"base.group_allow_export": true})),
            "user_companies" => plain(
                json!({"current_company": 1, "allowed_companies": {"1": {"id": 1, "name": "YourCompany", "sequence": 0, "child_ids": [], "parent_id": false}}, "disallowed_ancestor_companies": {}}),
            ),
            "show_effect" => plain(json!(true)),
            "display_switch_company_menu" => plain(json!(false)),
            "user_id" => plain(json!([uid])),
            "websocket_worker_version" => cfg
                .websocket_worker_version
                .as_ref()
                .map(|v| Nested::Plain(json!(v))),
            "web_tours" => plain(json!([])),
            "tour_disable" => plain(json!(true)),
            "notification_type" => plain(json!("email")),
            "tour_enabled" => plain(json!(false)),
            "current_tour" => plain(Value::Null),
            "warning" => plain(json!(if user.is_system() { "admin" } else { "user" })),
            "expiration_date" | "expiration_reason" | "map_box_token" | "ocn_token_key"
            | "fcm_project_id" => plain(json!(false)),
            "storeData" => plain(mail::store_data(db, cfg.version, uid)),
            "inbox_action" => plain(json!(109)),
            "odoobot_initialized" => plain(json!(false)),
            "iap_company_enrich" => plain(json!(true)),
            _ => None,
        }
    };
    let d = cfg
        .version
        .session_info_keys()
        .iter()
        .filter(|k| user.internal || !INTERNAL_ONLY_KEYS.contains(k))
        .filter(|k| user.is_system() || !SYSTEM_ONLY_KEYS.contains(k))
        .filter_map(|k| value(k).map(|v| (k.to_string(), v)))
        .collect();
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
