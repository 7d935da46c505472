//! The mail/discuss and bus JSON routes a CLI touches: `/mail/message/post`,
//! `/discuss/channel/notify_typing`, `call_kw` on `discuss.channel` (the client's access check),
//! and the bus controller's HTTP fallback (`peek_notifications`, `update_bus_presence`,
//! `on_closed`).

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::super::bus::Channel;
use super::super::mail::{self, PostData};
use super::super::model::Db;
use super::super::personality::OdooVersion;
use super::super::pyjson::{Dict, Nested};
use super::super::ws::events;
use super::call::{Ctx, Params, RpcError, requested_fields, require};

/// `post_data` keys `_get_allowed_message_post_params` lets through for a discuss channel.
const ALLOWED_POST_KEYS: &[&str] = &[
    "attachment_ids",
    "body",
    "message_type",
    "partner_ids",
    "subtype_xmlid",
    "special_mentions",
    "parent_id",
];

fn as_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

pub fn message_post(ctx: &Ctx, params: &Params) -> Result<Nested, RpcError> {
    require(
        params,
        &["thread_model", "thread_id", "post_data"],
        "ThreadController.mail_message_post",
    )?;
    if params["thread_model"] != ctx.shared.cfg.version.chat_model() {
        return Err(RpcError::not_found());
    }
    let channel_id = as_id(&params["thread_id"]).ok_or_else(RpcError::not_found)?;
    let uid = ctx.uid.ok_or_else(RpcError::not_found)?;
    let Value::Object(raw) = &params["post_data"] else {
        return Err(RpcError::type_error("argument after ** must be a mapping"));
    };
    // Unknown keys are dropped silently, as `filter_kwargs` does.
    let data: Map<String, Value> = raw
        .iter()
        .filter(|(k, _)| ALLOWED_POST_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let text = |k: &str| match data.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let post = PostData {
        body: text("body").unwrap_or_default(),
        message_type: text("message_type").unwrap_or_else(|| "notification".into()),
        subtype_xmlid: text("subtype_xmlid"),
        parent_id: data.get("parent_id").and_then(as_id),
        temporary_id: params
            .get("context")
            .and_then(|c| c.get("temporary_id"))
            .cloned(),
        silent: false,
    };
    let mut inner = ctx.shared.lock();
    mail::post_message(&mut inner, uid, channel_id, &post)
        .map(|(_, result)| Nested::Plain(result))
        .map_err(|_| RpcError::not_found())
}

pub fn notify_typing(ctx: &Ctx, params: &Params) -> Result<Nested, RpcError> {
    require(
        params,
        &["channel_id", "is_typing"],
        "ChannelController.discuss_channel_notify_typing",
    )?;
    let channel_id = as_id(&params["channel_id"]).ok_or_else(RpcError::not_found)?;
    let uid = ctx.uid.ok_or_else(RpcError::not_found)?;
    let mut inner = ctx.shared.lock();
    mail::typing(&mut inner, uid, channel_id, truthy(&params["is_typing"]))
        .map_err(|_| RpcError::not_found())?;
    Ok(Nested::Plain(Value::Null))
}

/// Fields of `discuss.channel` the emulator can read.
const CHANNEL_FIELDS: &[&str] = &[
    "id",
    "name",
    "channel_type",
    "display_name",
    "description",
    "is_member",
];

fn channel_field(db: &Db, uid: i64, id: i64, field: &str) -> Value {
    let Some(c) = db.channels.get(&id) else {
        return Value::Bool(false);
    };
    match field {
        "id" => json!(c.id),
        "name" | "display_name" => json!(c.name),
        "channel_type" => json!(c.kind.channel_type()),
        "is_member" => json!(db.partner_of(uid).and_then(|p| c.member_of(p)).is_some()),
        _ => Value::Bool(false),
    }
}

/// Evaluate an Odoo domain (prefix `&`, `|`, `!`, implicit AND) on one channel.
fn matches_domain(db: &Db, uid: i64, id: i64, domain: &[Value]) -> Result<bool, RpcError> {
    let mut stack: Vec<bool> = Vec::new();
    for term in domain.iter().rev() {
        match term {
            Value::String(op) if op == "&" || op == "|" => {
                let (Some(a), Some(b)) = (stack.pop(), stack.pop()) else {
                    return Err(RpcError::value_error(format!(
                        "Invalid domain: {}",
                        Value::Array(domain.to_vec())
                    )));
                };
                stack.push(if op == "&" { a && b } else { a || b });
            }
            Value::String(op) if op == "!" => {
                let a = stack
                    .pop()
                    .ok_or_else(|| RpcError::value_error("Invalid domain"))?;
                stack.push(!a);
            }
            Value::Array(leaf) if leaf.len() == 3 => {
                let field = leaf[0].as_str().unwrap_or_default();
                if !CHANNEL_FIELDS.contains(&field) {
                    return Err(RpcError::value_error(format!(
                        "Invalid field discuss.channel.{field} in leaf {}",
                        term
                    )));
                }
                let actual = channel_field(db, uid, id, field);
                let op = leaf[1].as_str().unwrap_or_default();
                let value = &leaf[2];
                let in_list = |v: &Value| v.as_array().is_some_and(|l| l.contains(&actual));
                let ilike = |v: &Value| {
                    let (Some(a), Some(b)) = (actual.as_str(), v.as_str()) else {
                        return false;
                    };
                    a.to_lowercase().contains(&b.to_lowercase())
                };
                stack.push(match op {
                    "=" | "==" => &actual == value,
                    "!=" | "<>" => &actual != value,
                    "in" => in_list(value),
                    "not in" => !in_list(value),
                    "ilike" => ilike(value),
                    "not ilike" => !ilike(value),
                    "like" => actual
                        .as_str()
                        .zip(value.as_str())
                        .is_some_and(|(a, b)| a.contains(b)),
                    _ => return Err(RpcError::value_error(format!("Invalid leaf {term}"))),
                });
            }
            other => return Err(RpcError::value_error(format!("Invalid leaf {other}"))),
        }
    }
    Ok(stack.into_iter().all(|b| b))
}

/// `/web/dataset/call_kw[/<path>]` for `discuss.channel` `search_read`, `search`, `read`,
/// `search_count`, under the caller's record rules.
pub fn call_kw(ctx: &Ctx, params: &Params) -> Result<Nested, RpcError> {
    require(
        params,
        &["model", "method", "args", "kwargs"],
        "DataSet.call_kw",
    )?;
    let model = params["model"].as_str().unwrap_or_default();
    let method = params["method"].as_str().unwrap_or_default();
    let uid = ctx.uid.ok_or_else(RpcError::session_expired)?;
    let args = params["args"].as_array().cloned().unwrap_or_default();
    let kwargs = params["kwargs"].as_object().cloned().unwrap_or_default();
    if model == "res.users.settings" {
        return users_settings_call(ctx, uid, method, &args, &kwargs);
    }
    if model == "res.partner" {
        return super::partners::call(ctx, method, &args, &kwargs);
    }
    if model != ctx.shared.cfg.version.chat_model() {
        return Err(RpcError::server("builtins.KeyError", format!("'{model}'")));
    }
    let inner = ctx.shared.lock();
    let db = &inner.db;
    let readable: Vec<i64> = db
        .channels
        .keys()
        .copied()
        .filter(|id| db.can_read_channel(Some(uid), *id))
        .collect();
    let fields = |v: Option<&Value>| requested_fields(v, CHANNEL_FIELDS, "discuss.channel");

    let search = |domain: Option<&Value>| -> Result<Vec<i64>, RpcError> {
        let domain = match domain {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(d)) => d.clone(),
            Some(other) => return Err(RpcError::value_error(format!("Invalid domain: {other}"))),
        };
        let mut out = Vec::new();
        for id in &readable {
            if matches_domain(db, uid, *id, &domain)? {
                out.push(*id);
            }
        }
        Ok(out)
    };
    let records = |ids: &[i64], fields: &[String]| -> Nested {
        // `read` order: id first, then the fields as requested.
        let list: Vec<Nested> = ids
            .iter()
            .map(|id| {
                let mut d = Dict::new().set("id", *id);
                for f in fields.iter().filter(|f| f.as_str() != "id") {
                    d.insert(f, channel_field(db, uid, *id, f));
                }
                Nested::from(d)
            })
            .collect();
        Nested::List(list)
    };
    let domain_arg = args.first().or(kwargs.get("domain"));
    match method {
        "search_read" => {
            let ids = search(domain_arg)?;
            Ok(records(
                &ids,
                &fields(args.get(1).or(kwargs.get("fields")))?,
            ))
        }
        "search" => Ok(Nested::Plain(json!(search(domain_arg)?))),
        "search_count" => Ok(Nested::Plain(json!(search(domain_arg)?.len()))),
        "read" => {
            let ids: Vec<i64> = match args.first() {
                Some(Value::Array(a)) => a.iter().filter_map(as_id).collect(),
                Some(v) => as_id(v).into_iter().collect(),
                None => Vec::new(),
            };
            if ids.iter().any(|id| !readable.contains(id)) {
                return Err(RpcError::access_error(
                    "You are not allowed to access 'Discussion Channel' (discuss.channel) records.",
                ));
            }
            Ok(records(
                &ids,
                &fields(args.get(1).or(kwargs.get("fields")))?,
            ))
        }
        other => Err(RpcError::server(
            "builtins.AttributeError",
            format!("The method '{other}' does not exist on the model 'discuss.channel'"),
        )),
    }
}

/// `/websocket/peek_notifications`: the subscribe rules over HTTP, answered at once.
pub fn peek_notifications(ctx: &mut Ctx, params: &Params) -> Result<Nested, RpcError> {
    require(
        params,
        &["channels", "last"],
        "WebsocketController.peek_notifications",
    )?;
    let first = params.get("is_first_poll").is_some_and(truthy);
    let mut inner = ctx.shared.lock();
    inner.stats.polls += 1;
    inner.stats.first_polls += u64::from(first);
    let session = inner
        .db
        .sessions
        .get_mut(&ctx.sid)
        .ok_or_else(RpcError::session_expired)?;
    if first {
        ctx.dirty |= !session.websocket_session;
        session.websocket_session = true;
    } else if !session.websocket_session {
        return Err(RpcError::session_expired_in_handler());
    }
    let Some(sub) = events::prepare_subscribe(
        &inner.db,
        inner.version,
        ctx.uid,
        &params["channels"],
        &params["last"],
    ) else {
        return Err(RpcError::value_error(
            "bus.Bus only string channels are allowed.",
        ));
    };
    if let Some(partner) = ctx.uid.and_then(|u| inner.db.partner_of(u)) {
        mail::send_missed_presences(&mut inner, partner, &sub.presence_partners);
    }
    let now = Instant::now();
    let window = ctx.shared.cfg.last0_window;
    let notifications: Vec<Value> = inner
        .db
        .bus
        .poll(&sub.channels, sub.last, |_| false, now, window)
        .into_iter()
        .map(|r| json!({"id": r.id, "message": serde_json::from_str::<Value>(&r.message).unwrap_or(Value::Null)}))
        .collect();
    let db = ctx.shared.cfg.main_db();
    let mut channels: Vec<&Channel> = sub.channels.iter().collect();
    channels.sort_by_key(|c| c.to_string());
    let channels: Vec<Value> = channels
        .into_iter()
        .map(|c| c.key_json(db, ctx.shared.cfg.version.chat_model()))
        .collect();
    Ok(Dict::new()
        .set("channels", channels)
        .set("notifications", notifications)
        .into())
}

/// `/websocket/update_bus_presence`: needs a session that did a first poll. 19 moved it to
/// `mail` and takes `inactivity_period` alone; an extra `im_status_ids_by_model` is dropped
/// there (measured: `{}`), while up to 18 both are required.
pub fn update_bus_presence(ctx: &Ctx, params: &Params) -> Result<Nested, RpcError> {
    let version = ctx.shared.cfg.version;
    require(
        params,
        version.update_presence_keys(),
        "WebsocketController.update_bus_presence",
    )?;
    let mut inner = ctx.shared.lock();
    if !inner
        .db
        .sessions
        .get(&ctx.sid)
        .is_some_and(|s| s.websocket_session)
    {
        return Err(RpcError::session_expired_in_handler());
    }
    let inactivity = params["inactivity_period"]
        .as_f64()
        .ok_or_else(|| RpcError::value_error("invalid literal for int() with base 10"))?;
    let update = events::PresenceUpdate {
        inactivity_ms: inactivity,
        partners: (version != OdooVersion::V19)
            .then(|| params["im_status_ids_by_model"].get("res.partner"))
            .flatten()
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_i64).collect()),
    };
    if let Some(partner) = ctx.uid.and_then(|u| inner.db.partner_of(u)) {
        mail::update_presence(&mut inner, partner, &update);
    }
    Ok(Nested::Plain(json!({})))
}

/// `/websocket/on_closed`: the user goes offline.
pub fn on_closed(ctx: &Ctx) -> Result<Nested, RpcError> {
    let mut inner = ctx.shared.lock();
    if let Some(partner) = ctx.uid.and_then(|u| inner.db.partner_of(u)) {
        mail::go_offline(&mut inner, partner);
    }
    Ok(Nested::Plain(Value::Null))
}

/// 19's `/bus/has_missed_notifications {last_notification_id}`: `true` when that row is no
/// longer kept (so a reconnecting client knows it missed something), `false` while it is.
pub fn has_missed_notifications(ctx: &Ctx, params: &Params) -> Result<Nested, RpcError> {
    require(
        params,
        &["last_notification_id"],
        "BusController.has_missed_notifications",
    )?;
    let id = as_id(&params["last_notification_id"]).unwrap_or(0);
    let mut inner = ctx.shared.lock();
    let retention = inner.retention();
    inner.db.bus.purge(Instant::now(), retention);
    let kept = u64::try_from(id).is_ok_and(|id| inner.db.bus.contains(id));
    Ok(Nested::Plain(json!(!kept)))
}

/// 19's `/mail/set_manual_im_status {status}`: online, away, busy or offline (`online` clears
/// the manual status); anything else is a ValueError.
pub fn set_manual_im_status(ctx: &Ctx, params: &Params) -> Result<Nested, RpcError> {
    require(
        params,
        &["status"],
        "ImStatusController.set_manual_im_status",
    )?;
    let status = params["status"].as_str().unwrap_or_default();
    if !["online", "away", "busy", "offline"].contains(&status) {
        return Err(RpcError::value_error(format!(
            "Unexpected IM status {}",
            params["status"]
        )));
    }
    let uid = ctx.uid.ok_or_else(RpcError::session_expired)?;
    let mut inner = ctx.shared.lock();
    if let Some(partner) = inner.db.partner_of(uid) {
        mail::set_manual_status(&mut inner, partner, status);
    }
    Ok(Nested::Plain(Value::Null))
}

/// `call_kw` on `res.users.settings`: `search`/`search_read` see only the caller's own record
/// (its record rule), `set_res_users_settings` on it echoes on the bus (the self-notification a
/// client can use to test delivery without anything visible to people).
fn users_settings_call(
    ctx: &Ctx,
    uid: i64,
    method: &str,
    args: &[Value],
    kwargs: &Map<String, Value>,
) -> Result<Nested, RpcError> {
    let mut inner = ctx.shared.lock();
    let own = inner.db.settings_id(uid);
    match method {
        "search" => Ok(Nested::Plain(json!([own]))),
        "search_read" | "read" => Ok(Nested::Plain(
            json!([{"id": own, "user_id": [uid, inner.db.partners.get(&inner.db.partner_of(uid).unwrap_or(0)).map(|p| p.name.clone()).unwrap_or_default()]}]),
        )),
        "set_res_users_settings" => {
            let ids: Vec<i64> = match args.first() {
                Some(Value::Array(a)) => a.iter().filter_map(as_id).collect(),
                Some(v) => as_id(v).into_iter().collect(),
                None => Vec::new(),
            };
            if ids != [own] {
                let name = inner
                    .db
                    .partner_of(uid)
                    .map(|p| inner.db.partner_name(p))
                    .unwrap_or_default();
                return Err(RpcError::access_error(format!(
                    "Uh-oh! Looks like you have stumbled upon some top-secret records.\n\nSorry, {name} (id={uid}) doesn't have 'write' access to:\n- User Settings (res.users.settings)\n\nIf you really, really need access, perhaps you can win over your friendly administrator with a batch of freshly baked cookies."
                )));
            }
            let new_settings = kwargs
                .get("new_settings")
                .or(args.get(1))
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| {
                    RpcError::type_error(
                        "ResUsersSettings.set_res_users_settings() missing 1 required positional argument: 'new_settings'",
                    )
                })?;
            let answer = mail::set_user_settings(&mut inner, uid, &new_settings);
            Ok(Nested::Plain(answer.unwrap_or(Value::Null)))
        }
        other => Err(RpcError::server(
            "builtins.AttributeError",
            format!("The method '{other}' does not exist on the model 'res.users.settings'"),
        )),
    }
}
