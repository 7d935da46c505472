//! `call_kw` on `res.partner`: `search_read` and `read` of `id`, `name`, `display_name`,
//! `email` and `im_status`, as the real servers answer them (16 to 19 alike): `im_status` is what
//! others see now, `im_partner` for a partner without a user, `bot` for OdooBot; rows in the
//! model's order (by name, then id descending). Domains: the leaves clients send
//! (`id =|in`, `name ilike|=`, `user_ids != false`), joined by an implicit AND.
//!
//! Owns nothing but the answer; may not touch the bus.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::super::mail;
use super::super::model::{Db, ODOOBOT_PARTNER, PUBLIC_PARTNER};
use super::super::personality::OdooVersion;
use super::super::pyjson::{Dict, Nested};
use super::call::{Ctx, RpcError, requested_fields};

const FIELDS: &[&str] = &["id", "name", "display_name", "email", "im_status"];

pub fn call(
    ctx: &Ctx,
    method: &str,
    args: &[Value],
    kwargs: &Map<String, Value>,
) -> Result<Nested, RpcError> {
    let inner = ctx.shared.lock();
    let db = &inner.db;
    let version = inner.version;
    let fields = fields(args.get(1).or(kwargs.get("fields")))?;
    let ids: Vec<i64> = match method {
        "search_read" => {
            let limit = kwargs
                .get("limit")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX) as usize;
            search(db, args.first().or(kwargs.get("domain")))?
                .into_iter()
                .take(limit)
                .collect()
        }
        "read" => match args.first() {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
            Some(v) => v.as_i64().into_iter().collect(),
            None => Vec::new(),
        },
        other => {
            return Err(RpcError::server(
                "builtins.AttributeError",
                format!("The method '{other}' does not exist on the model 'res.partner'"),
            ));
        }
    };
    let now = Instant::now();
    let rows: Vec<Nested> = ids
        .iter()
        .filter_map(|id| db.partners.get(id).map(|p| (*id, p)))
        .map(|(id, p)| {
            let mut d = Dict::new().set("id", id);
            for f in fields.iter().filter(|f| f.as_str() != "id") {
                let v = match f.as_str() {
                    "name" => json!(p.name),
                    "display_name" => json!(p.display_name),
                    "email" => json!(p.email),
                    _ => json!(status(db, version, id, p.user_id.is_some(), now)),
                };
                d.insert(f, v);
            }
            Nested::from(d)
        })
        .collect();
    Ok(Nested::List(rows))
}

fn status(db: &Db, version: OdooVersion, id: i64, has_user: bool, now: Instant) -> &'static str {
    if id == ODOOBOT_PARTNER {
        "bot"
    } else if !has_user {
        "im_partner"
    } else {
        mail::shown_status(db, version, id, now)
    }
}

fn fields(v: Option<&Value>) -> Result<Vec<String>, RpcError> {
    requested_fields(v, FIELDS, "res.partner")
}

/// The ids matching every leaf, by name then id descending (`res.partner`'s `_order`).
fn search(db: &Db, domain: Option<&Value>) -> Result<Vec<i64>, RpcError> {
    let leaves: Vec<Value> = match domain {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(d)) => d.clone(),
        Some(other) => return Err(RpcError::value_error(format!("Invalid domain: {other}"))),
    };
    let mut out: Vec<(String, i64)> = Vec::new();
    'partners: for (id, p) in &db.partners {
        for leaf in &leaves {
            let (Some(field), Some(op), Some(value)) = (
                leaf.get(0).and_then(Value::as_str),
                leaf.get(1).and_then(Value::as_str),
                leaf.get(2),
            ) else {
                // `&` (the implicit AND) and anything else that is not a leaf.
                if leaf.as_str() == Some("&") {
                    continue;
                }
                return Err(RpcError::value_error(format!("Invalid leaf {leaf}")));
            };
            let hit = match (field, op) {
                ("id", "=") => value.as_i64() == Some(*id),
                ("id", "in") => value
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v.as_i64() == Some(*id))),
                ("name", "=") => value.as_str() == Some(p.name.as_str()),
                ("name", "ilike") => value
                    .as_str()
                    .is_some_and(|s| p.name.to_lowercase().contains(&s.to_lowercase())),
                // The public user and OdooBot's (`__system__`) are archived: a one2many lists
                // active records only (a real 18 finds neither this way).
                ("user_ids", "!=") if value == &Value::Bool(false) => {
                    p.user_id.is_some() && *id != PUBLIC_PARTNER && *id != ODOOBOT_PARTNER
                }
                _ => {
                    return Err(RpcError::value_error(format!(
                        "the emulator does not know the leaf {leaf} on res.partner"
                    )));
                }
            };
            if !hit {
                continue 'partners;
            }
        }
        out.push((p.name.clone(), *id));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    Ok(out.into_iter().map(|(_, id)| id).collect())
}
