//! The browser login: `/web/login` (with `ensure_db`) and `/web/login/totp`, CSRF included.
//!
//! A CLI needs this path for 2FA users and strict multi-db setups. What matters on the wire:
//! the CSRF token (`<40 hex>o<expiry>`) is bound to the sid, so it stops matching once the sid
//! rotates; a bad token is a 400 before anything else; a wrong password or code re-renders the
//! form with HTTP 200; success is a 303 with a rotated `session_id`.

use std::hash::{DefaultHasher, Hash, Hasher};

use hyper::{Method, StatusCode, header};

use super::super::model::Auth;
use super::super::state::Shared;
use super::super::time;
use super::exchange::{self, Reply, Req, escape};
use super::session::{self, Credentials};

const WRONG_LOGIN: &str = "Wrong login/password";
const WRONG_CODE: &str = "Verification failed, please double-check the 6-digit code";
const BAD_CODE_FORMAT: &str = "Invalid authentication code format.";
const CSRF_FAILED: &str = "Session expired (invalid CSRF token)";

/// `request.csrf_token()`: an HMAC of sid + expiry (a keyed hash stands in for HMAC-SHA1).
pub fn csrf_token(key: u64, sid: &str) -> String {
    let expiry = time::unix_now() + 365 * 24 * 3600;
    format!("{}o{expiry}", csrf_mac(key, sid, &expiry.to_string()))
}

fn csrf_mac(key: u64, sid: &str, expiry: &str) -> String {
    let mut hex = String::with_capacity(48);
    for salt in 0u8..3 {
        let mut h = DefaultHasher::new();
        (key, salt, sid, expiry).hash(&mut h);
        hex.push_str(&format!("{:016x}", h.finish()));
    }
    hex.truncate(40);
    hex
}

/// `request.validate_csrf`.
pub fn csrf_valid(key: u64, sid: &str, token: &str) -> bool {
    let Some((mac, expiry)) = token.rsplit_once('o') else {
        return false;
    };
    match expiry.parse::<i64>() {
        Ok(ts) if ts >= time::unix_now() => csrf_mac(key, sid, expiry) == mac,
        _ => false,
    }
}

/// Request parameters: query string and, for a POST, the form (like `request.params`).
fn params(req: &Req) -> Vec<(String, String)> {
    let mut all = req.query.clone();
    if req.method == Method::POST {
        all.extend(req.form());
    }
    all
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn check_csrf(shared: &Shared, req: &Req, sid: &str, params: &[(String, String)]) -> Option<Reply> {
    if req.method != Method::POST {
        return None;
    }
    let key = shared.lock().db.csrf_key;
    match param(params, "csrf_token") {
        Some(t) if csrf_valid(key, sid, t) => None,
        _ => Some(Reply::werkzeug(StatusCode::BAD_REQUEST, CSRF_FAILED)),
    }
}

/// Where a finished login goes (`_get_login_redirect_url`).
fn after_login(shared: &Shared, uid: i64, redirect: Option<&str>) -> String {
    if let Some(r) = redirect {
        return r.to_string();
    }
    let internal = shared
        .lock()
        .db
        .users
        .get(&uid)
        .map(|u| u.internal)
        .unwrap_or(false);
    if internal {
        "/odoo".into()
    } else {
        "/web/login_successful".into()
    }
}

fn totp_url(redirect: Option<&str>) -> String {
    match redirect {
        Some(r) => format!(
            "/web/login/totp?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("redirect", r)
                .finish()
        ),
        None => "/web/login/totp".into(),
    }
}

/// Add the cookie when the session was born in this request or changed.
fn with_cookie(reply: Reply, shared: &Shared, sid: &str, send: bool) -> Reply {
    if send {
        reply.session_cookie(sid, shared.cfg.session_max_age)
    } else {
        reply
    }
}

/// `GET|POST /web/login`.
pub fn login(shared: &Shared, req: &Req) -> Reply {
    let (sid, created) = exchange::request_session_new(shared, req);
    let params = params(req);
    if let Some(reject) = check_csrf(shared, req, &sid, &params) {
        return reject;
    }
    // ensure_db()
    let requested = param(&params, "db").filter(|d| shared.cfg.dbs.iter().any(|x| x == d));
    let session_db = shared
        .lock()
        .db
        .sessions
        .get(&sid)
        .and_then(|s| s.db.clone());
    if let (Some(db), None) = (requested, &session_db) {
        if let Some(s) = shared.lock().db.sessions.get_mut(&sid) {
            s.db = Some(db.to_string());
        }
        return Reply::redirect(StatusCode::FOUND, &req.path_and_query())
            .session_cookie(&sid, shared.cfg.session_max_age);
    }
    let Some(db) = requested.map(str::to_string).or(session_db.clone()) else {
        return with_cookie(
            Reply::redirect(StatusCode::SEE_OTHER, "/web/database/selector"),
            shared,
            &sid,
            created,
        );
    };
    if Some(&db) != session_db.as_ref() {
        let mut inner = shared.lock();
        let new_sid = inner
            .db
            .rotate(&sid, super::super::model::Session::anonymous(Some(db)));
        drop(inner);
        return Reply::redirect(StatusCode::FOUND, &req.path_and_query())
            .session_cookie(&new_sid, shared.cfg.session_max_age);
    }
    let redirect = param(&params, "redirect");
    let logged_in = match shared.lock().db.auth(&sid) {
        Auth::User(uid) => Some(uid),
        _ => None,
    };
    if req.method == Method::GET
        && let (Some(r), Some(_)) = (redirect, logged_in)
    {
        return Reply::redirect(StatusCode::SEE_OTHER, r);
    }
    let mut error = None;
    if req.method == Method::POST {
        let login = param(&params, "login").unwrap_or_default();
        let password = param(&params, "password").unwrap_or_default();
        let mut inner = shared.lock();
        match session::check_credentials(shared, &mut inner, req.peer, &db, login, password) {
            Ok(Credentials::LoggedIn(uid)) => {
                let new_sid = session::finalize(&mut inner, &sid, uid, &db);
                drop(inner);
                return Reply::redirect(StatusCode::SEE_OTHER, &after_login(shared, uid, redirect))
                    .session_cookie(&new_sid, shared.cfg.session_max_age);
            }
            Ok(Credentials::NeedsTotp(uid)) => {
                if let Some(s) = inner.db.sessions.get_mut(&sid) {
                    s.pre_uid = Some(uid);
                    s.uid = None;
                }
                return Reply::redirect(StatusCode::SEE_OTHER, &totp_url(redirect))
                    .session_cookie(&sid, shared.cfg.session_max_age);
            }
            Err(message) if message == "Access Denied" => error = Some(WRONG_LOGIN.to_string()),
            Err(message) => error = Some(message),
        }
    }
    let key = shared.lock().db.csrf_key;
    let page = login_page(
        &csrf_token(key, &sid),
        &db,
        shared.cfg.dbs.len() > 1,
        param(&params, "login"),
        error.as_deref(),
        redirect,
    );
    with_cookie(html_page(page), shared, &sid, created)
}

/// `GET|POST /web/login/totp`.
pub fn totp(shared: &Shared, req: &Req) -> Reply {
    let (sid, created) = exchange::request_session_new(shared, req);
    let params = params(req);
    if let Some(reject) = check_csrf(shared, req, &sid, &params) {
        return reject;
    }
    let redirect = param(&params, "redirect");
    let (auth, pre_uid, db) = {
        let inner = shared.lock();
        let s = inner.db.sessions.get(&sid);
        (
            inner.db.auth(&sid),
            s.and_then(|s| s.pre_uid),
            s.and_then(|s| s.db.clone()),
        )
    };
    if let Auth::User(uid) = auth {
        return Reply::redirect(StatusCode::SEE_OTHER, &after_login(shared, uid, redirect));
    }
    let Some(uid) = pre_uid else {
        return with_cookie(
            Reply::redirect(StatusCode::SEE_OTHER, "/web/login"),
            shared,
            &sid,
            created,
        );
    };
    let mut error = None;
    if let (true, Some(token)) = (req.method == Method::POST, param(&params, "totp_token")) {
        let now = std::time::Instant::now();
        let cfg = &shared.cfg;
        let mut inner = shared.lock();
        let token: String = token.chars().filter(|c| !c.is_whitespace()).collect();
        let expected = inner
            .db
            .users
            .get(&uid)
            .and_then(|u| u.totp_code.clone())
            .unwrap_or_default();
        if inner.db.on_cooldown(
            req.peer,
            cfg.login_cooldown_after,
            cfg.login_cooldown_duration,
            now,
        ) {
            error = Some(session::TOO_MANY_FAILURES.to_string());
        } else {
            match token.parse::<i64>() {
                Err(_) => error = Some(BAD_CODE_FORMAT.to_string()),
                Ok(code) if expected.trim().parse::<i64>().ok() == Some(code) => {
                    inner.db.login_failures.remove(&req.peer);
                    let db = db.unwrap_or_else(|| inner.db.name.clone());
                    let new_sid = session::finalize(&mut inner, &sid, uid, &db);
                    drop(inner);
                    let mut reply =
                        Reply::redirect(StatusCode::SEE_OTHER, &after_login(shared, uid, redirect))
                            .session_cookie(&new_sid, shared.cfg.session_max_age);
                    if param(&params, "remember").is_some() {
                        // The device name comes from the parsed User-Agent; a non-browser UA
                        // leaves it None and Odoo fails with a 500 (reference §1.8).
                        let ua = req.header(header::USER_AGENT.as_str()).unwrap_or("");
                        if !exchange::is_browser(ua) {
                            return Reply::internal_error();
                        }
                        reply = reply.header(
                            header::SET_COOKIE,
                            format!(
                                "td_id={}; Expires={}; Max-Age=7776000; HttpOnly; Path=/; SameSite=Lax",
                                super::super::model::new_sid(84),
                                time::http_date_in_days(90)
                            ),
                        );
                    }
                    return reply;
                }
                Ok(_) => {
                    inner.db.record_login_failure(req.peer, now);
                    error = Some(WRONG_CODE.to_string());
                }
            }
        }
    }
    let key = shared.lock().db.csrf_key;
    let page = totp_page(&csrf_token(key, &sid), error.as_deref(), redirect);
    html_page(page).session_cookie(&sid, shared.cfg.session_max_age)
}

/// `/odoo`, `/web`, `/`, `/web/login_successful`: just enough for a redirect target.
pub fn landing(shared: &Shared, req: &Req) -> Reply {
    let sid = exchange::request_session(shared, req);
    let logged_in = matches!(shared.lock().db.auth(&sid), Auth::User(_));
    match req.path.as_str() {
        "/" => Reply::redirect(StatusCode::SEE_OTHER, "/odoo"),
        "/web/login_successful" => html_page(
            "<!DOCTYPE html>\n<html>\n<head><title>Odoo</title></head>\n<body><p>You are logged in.</p></body>\n</html>\n".into(),
        ),
        _ if logged_in => html_page(
            "<!DOCTYPE html>\n<html>\n<head><title>Odoo</title></head>\n<body class=\"o_web_client\"></body>\n</html>\n".into(),
        ),
        path => Reply::redirect(StatusCode::SEE_OTHER, &format!("/web/login?redirect={path}")),
    }
}

fn html_page(body: String) -> Reply {
    Reply::html(StatusCode::OK, body)
        .header(header::X_FRAME_OPTIONS, "SAMEORIGIN")
        .header(header::CONTENT_SECURITY_POLICY, "frame-ancestors 'self'")
        .header(header::CACHE_CONTROL, "no-cache")
        .nosniff()
}

fn page(csrf: &str, title: &str, form: String) -> String {
    format!(
        r#"<!DOCTYPE html>
<html style="height: 100%;">
    <head>
        <meta charset="utf-8"/>
        <title>{title}</title>
        <script id="web.layout.odooscript" type="text/javascript">
            var odoo = {{
                csrf_token: "{csrf}",
                debug: "",
            }};
        </script>
    </head>
    <body class="bg-100">
        <div id="wrapwrap" class="">
            <main>
{form}
            </main>
        </div>
    </body>
</html>
"#
    )
}

fn login_page(
    csrf: &str,
    db: &str,
    show_db: bool,
    login: Option<&str>,
    error: Option<&str>,
    redirect: Option<&str>,
) -> String {
    let db_field = if show_db {
        format!(
            r#"                <div class="mb-3">
                    <label for="db" class="col-form-label">Database</label>
                    <input type="text" name="db" value="{}" id="db" class="form-control" required="required" readonly="readonly"/>
                </div>
"#,
            escape(db)
        )
    } else {
        String::new()
    };
    let error = error.map(alert).unwrap_or_default();
    let login = login.map(value_attr).unwrap_or_default();
    let redirect = redirect.map(value_attr).unwrap_or_default();
    page(
        csrf,
        "Odoo",
        format!(
            r#"            <form role="form" method="post" class="oe_login_form" action="/web/login">
                <input type="hidden" name="csrf_token" value="{csrf}"/>
{db_field}                <div class="mb-3 field-login">
                    <label for="login" class="form-label">Email</label>
                    <input type="text" placeholder="Email" name="login"{login} id="login" class="form-control" required="required" autocapitalize="off" autocomplete="username"/>
                </div>
                <div class="mb-3">
                    <label for="password" class="form-label">Password</label>
                    <input type="password" placeholder="Password" name="password" id="password" class="form-control" required="required" autocomplete="current-password" maxlength="4096"/>
                </div>
{error}                <div class="oe_login_buttons text-center gap-1 d-grid mb-1 pt-3">
                    <button type="submit" class="btn btn-primary">Log in</button>
                </div>
                <input type="hidden" name="type" value="password"/>
                <input type="hidden" name="redirect"{redirect}/>
            </form>"#
        ),
    )
}

/// Odoo's error paragraph in a login form (the message escaped like werkzeug does).
fn alert(message: &str) -> String {
    format!(
        "                <p class=\"alert alert-danger\" role=\"alert\">{}</p>\n",
        escape(message)
    )
}

/// ` value="…"` for a form field that is filled in again.
fn value_attr(value: &str) -> String {
    format!(" value=\"{}\"", escape(value))
}

fn totp_page(csrf: &str, error: Option<&str>, redirect: Option<&str>) -> String {
    let error = error.map(alert).unwrap_or_default();
    let redirect = redirect.map(value_attr).unwrap_or_default();
    page(
        csrf,
        "Two-factor Authentication | Odoo",
        format!(
            r#"            <form method="POST" action="/web/login/totp" class="oe_login_form">
                <input type="hidden" name="csrf_token" value="{csrf}"/>
                <input type="hidden" name="redirect"{redirect}/>
                <h4>Two-factor Authentication</h4>
                <p>To login, enter below the six-digit authentication code provided by your Authenticator app.</p>
{error}                <div class="mb-3">
                    <label for="totp_token" class="form-label">Authentication Code</label>
                    <input id="totp_token" name="totp_token" class="form-control mb-2" autocomplete="one-time-code" placeholder="6-digit code" inputmode="numeric" minlength="6" maxlength="7" required="required"/>
                </div>
                <div class="form-check">
                    <input type="checkbox" name="remember" id="switch-remember" value="1" class="form-check-input"/>
                    <label for="switch-remember" class="form-check-label">Don't ask again on this device</label>
                </div>
                <button type="submit" class="btn btn-primary">Log in</button>
            </form>"#
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_the_sid() {
        let token = csrf_token(42, "sid-a");
        let (mac, expiry) = token.rsplit_once('o').unwrap();
        assert_eq!(mac.len(), 40);
        assert!(mac.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(expiry.parse::<i64>().unwrap() > time::unix_now());
        assert!(csrf_valid(42, "sid-a", &token));
        assert!(
            !csrf_valid(42, "sid-b", &token),
            "rotation invalidates the token"
        );
        assert!(!csrf_valid(43, "sid-a", &token));
        assert!(!csrf_valid(42, "sid-a", "garbage"));
    }
}
