//! F20: `/websocket` reaches another Odoo than `/web` (two instances on one host, a stale
//! container, or a proxy whose `/websocket` location points at another upstream). Owns the one
//! request that tells it and its verdict; the delivery check calls it when the socket does not
//! hear the user. May not touch the profile.
//!
//! The signal, checked on the real 16, 17 (early and late), 18 and 19: `POST
//! /websocket/peek_notifications {channels: [], last: 0, is_first_poll: true}` exists in every
//! version and answers with the channels the session listens to, each keyed by the database:
//! a logged-in session gets its own `[db, "res.partner", partner_id]`; a session id the serving
//! Odoo has no file for is served publicly, without an error (`[db, "broadcast"]` and the public
//! group only). So when `/web/session/check` (the right Odoo) says the session is valid and the
//! same cookie on the same location prefix as the socket gets a public answer, or one keyed by
//! another database, the requests under `/websocket` go to an Odoo that does not know the session.

use std::time::Duration;

use serde_json::{Value, json};

use super::check::Verdict;
use odoo_bus_core::bus::poll::{PEEK_ANSWERS_WITHIN, PEEK_ROUTE};
use odoo_bus_core::odoo::client::{ClientOptions, OdooClient};
use odoo_bus_core::odoo::rpc::RpcError;

/// What the `/websocket` side answered for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The database `/web` serves the session from (`get_session_info`).
    pub web_db: Option<String>,
    /// The database the peek's channels are keyed by.
    pub websocket_db: Option<String>,
    /// The peek's channels, as `db/model/id` (or `error: …` when it answered a session error).
    pub channels: Vec<String>,
}

/// Whether the `/websocket` side knows the session, from the peek's answer. `None`: it does
/// (its channels include the user's partner on the same database), or the answer says nothing.
pub fn classify(answer: &Value, partner_id: i64, web_db: Option<&str>) -> Option<Seen> {
    let channels = answer.get("channels")?.as_array()?;
    let keyed: Vec<&Vec<Value>> = channels.iter().filter_map(Value::as_array).collect();
    let websocket_db = keyed
        .iter()
        .find_map(|c| c.first().and_then(Value::as_str))
        .map(str::to_string);
    let own = keyed.iter().any(|c| {
        c.get(1).and_then(Value::as_str) == Some("res.partner")
            && c.get(2).and_then(Value::as_i64) == Some(partner_id)
    });
    let same_db = match (web_db, websocket_db.as_deref()) {
        (Some(w), Some(s)) => w == s,
        _ => true,
    };
    if own && same_db {
        return None;
    }
    let channels = channels
        .iter()
        .map(|c| match c {
            Value::Array(parts) => parts
                .iter()
                .map(|p| match p {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/"),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    Some(Seen {
        web_db: web_db.map(str::to_string),
        websocket_db,
        channels,
    })
}

/// Ask the `/websocket` side about the session. `Some` when it does not know it. On a private
/// client: an Odoo that rejects the id's format answers with a new cookie (measured: a 16 or 17
/// given an 18's id), which must not replace the profile's session.
pub async fn websocket_side(
    client: &OdooClient,
    options: &ClientOptions,
    partner_id: i64,
    web_db: Option<&str>,
) -> Option<Seen> {
    let private = OdooClient::new(client.url().clone(), client.session(), options.clone()).ok()?;
    let params = json!({"channels": [], "last": 0, "is_first_poll": true});
    match private
        .call_within::<Value>(PEEK_ROUTE, params, PEEK_ANSWERS_WITHIN)
        .await
    {
        Ok(Some(answer)) => classify(&answer, partner_id, web_db),
        // A first poll never answers a session error on the Odoo that has the session.
        Err(RpcError::SessionExpired) => Some(Seen {
            web_db: web_db.map(str::to_string),
            websocket_db: None,
            channels: vec!["error: session expired (code 100)".into()],
        }),
        _ => None,
    }
}

/// What the socket itself showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symptom {
    /// It kept the cookie but did not hear the user's notification within this time.
    Deaf(Duration),
    /// Its 101 set a new session cookie: the Odoo behind it found no session for the id (an
    /// instance whose session ids have another format, 16/17 vs 18/19, issues a new one).
    NewCookie,
}

/// The verdict, from the peek's answer and what the socket showed.
pub fn verdict(seen: &Seen, symptom: Symptom) -> Verdict {
    let public = if seen.channels.iter().any(|c| c.starts_with("error:")) {
        "with a session error".to_string()
    } else {
        format!("as a public user (channels: {})", seen.channels.join(", "))
    };
    let dbs = match (&seen.web_db, &seen.websocket_db) {
        (Some(w), Some(s)) if w != s => {
            format!("; /web serves database {w}, /websocket/… database {s}")
        }
        _ => String::new(),
    };
    let socket = match symptom {
        Symptom::Deaf(waited) => format!(
            "the socket did not hear the user's notification within {} s; the peek is a plain POST, which no Origin or forwarded-header rule downgrades, so this is not a downgraded socket (F5)",
            waited.as_secs_f64()
        ),
        Symptom::NewCookie => {
            "the socket's 101 set a new session cookie (that Odoo has no session for the id)"
                .to_string()
        }
    };
    let detail = format!(
        "/websocket reaches another Odoo than /web (two instances, or the proxy's /websocket location points at the wrong upstream): /web knows your session, /websocket/… does not. /web/session/check says the session is valid, but POST {PEEK_ROUTE} with the same cookie was answered {public}{dbs}; {socket}"
    );
    let hint = "point the proxy's /websocket location at the same Odoo as / (that instance's gevent port, 8072 by default; in docker its service name, not another container or 127.0.0.1); on a host running two Odoo (`ss -ltnp` shows who listens on 8069/8072), stop the stale one or give each its own ports; a proxy that drops the Cookie header under /websocket looks the same";
    let mut evidence = vec![
        ("cause", "websocket-other-instance".to_string()),
        ("web_session", "valid (/web/session/check)".to_string()),
        ("websocket_peek", public),
    ];
    evidence.push((
        "socket",
        match symptom {
            Symptom::Deaf(_) => "kept the cookie, did not hear the user".to_string(),
            Symptom::NewCookie => "the 101 set a new session cookie".to_string(),
        },
    ));
    if let Some(w) = &seen.web_db {
        evidence.push(("web_db", w.clone()));
    }
    if let Some(s) = &seen.websocket_db {
        evidence.push(("websocket_db", s.clone()));
    }
    Verdict::fail(detail, hint).with_evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    #[test]
    fn the_users_own_channel_on_the_same_database_means_known() {
        let a = json!({"channels": [["odoo18", "broadcast"], ["odoo18", "res.partner", 7]], "notifications": []});
        assert_eq!(classify(&a, 7, Some("odoo18")), None);
        // No database known on the /web side: the partner channel decides.
        assert_eq!(classify(&a, 7, None), None);
    }

    #[test]
    fn a_public_answer_or_another_database_means_another_odoo() {
        // What the real 19 answered to a session of the real 18.
        let a = json!({"channels": [["odoo19", "broadcast"], ["odoo19", "res.groups", 11]], "notifications": []});
        let seen = classify(&a, 7, Some("odoo18")).expect("not known");
        assert_eq!(seen.websocket_db.as_deref(), Some("odoo19"));
        assert_eq!(seen.channels, ["odoo19/broadcast", "odoo19/res.groups/11"]);
        let v = verdict(&seen, Symptom::Deaf(Duration::from_secs(5)));
        assert!(v.detail.contains("within 5 s"), "{v:?}");
        let v2 = verdict(&seen, Symptom::NewCookie);
        assert!(v2.detail.contains("set a new session cookie"), "{v2:?}");
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.detail
                .starts_with("/websocket reaches another Odoo than /web")
        );
        assert!(
            v.detail
                .contains("/web serves database odoo18, /websocket/… database odoo19")
        );
        assert_eq!(v.evidence[0], ("cause", "websocket-other-instance".into()));
        // The same partner id on another database is not the user.
        let a = json!({"channels": [["other", "res.partner", 7]]});
        assert!(classify(&a, 7, Some("odoo18")).is_some());
        // Not an answer at all: nothing said.
        assert_eq!(classify(&json!(null), 7, None), None);
    }
}
