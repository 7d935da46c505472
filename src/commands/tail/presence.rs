//! `tail --presence-of PARTNER`: follow some people's presence, on every version, for "why is X
//! shown offline".
//!
//! How each version lets a client learn presence (protocol notes §8, and the real servers):
//! - 16 and early 17 push nothing when someone's status changes. Their web client asks: every
//!   60 s (`UPDATE_BUS_PRESENCE_DELAY`) it sends `update_presence` with the partners it shows in
//!   `im_status_ids_by_model`, and the server answers on the asker's own partner channel
//!   (`bus/im_status` on 16, `mail.record/insert {"Persona": …}` on early 17). We do the same.
//! - late 17, 18 and 19 push `bus.bus/im_status_updated` on `odoo-presence-res.partner_<id>` to
//!   whoever subscribes to it: we subscribe.
//!
//! Either way the first line is the status the server computes now (`res.partner.im_status`,
//! read over JSON-RPC when the name is resolved), printed as `{"type":"odoo-bus/presence",…}`
//! (like `--gaps`' `odoo-bus/gap` lines: a line of ours, not a notification); after a
//! reconnect the status is read again, and printed the same way if it changed meanwhile. Every
//! other line is Odoo's own notification, printed only when it changes a followed status.
//!
//! Owns: resolving names to partners, the followed statuses, the synthetic line. May not touch:
//! the socket (tail.rs sends the event this module builds), stdout (tail.rs prints).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use odoo_bus_core::error::{Error, Result};
use odoo_bus_core::odoo::client::OdooClient;
use odoo_bus_core::odoo::discuss::PartnerStatus;
use odoo_bus_core::odoo::rpc::ErrorContext;
use odoo_bus_core::odoo::version::{Flavor, presence_changes};

/// The web client's period between two `update_presence` on 16 and early 17.
pub const ASK_EVERY: Duration = Duration::from_secs(60);

/// Test knob (docs/testing.md): the period of the `update_presence` asks on 16 and early 17.
const ASK_EVERY_ENV: &str = "ODOO_BUS_PRESENCE_EVERY";

/// The synthetic line's type.
pub const LINE_TYPE: &str = "odoo-bus/presence";

/// Candidates read for a name: enough to list a few when it is ambiguous.
const CANDIDATES: usize = 8;

/// The people followed and the status last printed for each.
pub struct PresenceOf {
    flavor: Flavor,
    people: Vec<PartnerStatus>,
    /// The status last printed (or read) per partner id.
    shown: BTreeMap<i64, String>,
}

impl PresenceOf {
    /// Resolves every `--presence-of` (an id, or a name matched like `name_search` does among
    /// the users' partners) to one partner with its current status. An unknown or ambiguous
    /// name is a usage error (exit 2) naming what was found.
    pub async fn resolve(
        client: &OdooClient,
        flavor: Flavor,
        asked: &[String],
        cx: &ErrorContext<'_>,
    ) -> Result<Self> {
        let mut people: Vec<PartnerStatus> = Vec::new();
        for arg in asked {
            let arg = arg.trim();
            let found = match arg.parse::<i64>() {
                Ok(id) if id > 0 => {
                    let rows = client
                        .partner_statuses(&[id], None, 1)
                        .await
                        .map_err(|e| rpc_error(&e, cx))?;
                    rows.into_iter().next().ok_or_else(|| {
                        Error::usage(format!(
                            "--presence-of {id}: no partner with that id (or this user cannot read it)"
                        ))
                    })?
                }
                _ if arg.is_empty() => {
                    return Err(Error::usage(
                        "--presence-of needs a name or a partner id (e.g. --presence-of 'Marc Demo')",
                    ));
                }
                _ => {
                    let rows = client
                        .partner_statuses(&[], Some(arg), CANDIDATES)
                        .await
                        .map_err(|e| rpc_error(&e, cx))?;
                    pick(arg, rows)?
                }
            };
            if !people.iter().any(|p| p.id == found.id) {
                people.push(found);
            }
        }
        let shown = people.iter().map(|p| (p.id, p.im_status.clone())).collect();
        Ok(PresenceOf {
            flavor,
            people,
            shown,
        })
    }

    pub fn ids(&self) -> Vec<i64> {
        self.people.iter().map(|p| p.id).collect()
    }

    /// `(id, name)` for the pretty printer.
    pub fn names(&self) -> Vec<(u64, String)> {
        self.people
            .iter()
            .map(|p| (p.id as u64, p.name.clone()))
            .collect()
    }

    /// Whether this server is asked (16, early 17) rather than pushing (late 17 and later).
    pub fn asked(&self) -> bool {
        !self.flavor.has_presence_channels()
    }

    /// The presence channels to subscribe to (none on 16 and early 17).
    pub fn channels(&self) -> Vec<String> {
        self.people
            .iter()
            .filter_map(|p| self.flavor.presence_channel(p.id))
            .collect()
    }

    /// The `update_presence` that asks for the followed statuses (and `own`, the user's own
    /// partner when `--presence` asks for it too), on versions that answer it.
    pub fn ask_event(&self, own: Option<i64>) -> Option<String> {
        if !self.asked() {
            return None;
        }
        let mut ids: Vec<i64> = own.into_iter().collect();
        ids.extend(self.ids().into_iter().filter(|id| Some(*id) != own));
        Some(self.flavor.update_presence_event(0, &ids))
    }

    /// The period of the asks (60 s, or the test knob).
    pub fn ask_every() -> Result<Duration> {
        Ok(super::duration_env(ASK_EVERY_ENV)?.unwrap_or(ASK_EVERY))
    }

    /// The first lines: every followed person's status now.
    pub fn initial(&self) -> Vec<Value> {
        self.people
            .iter()
            .map(|p| line(p.id, &p.name, &p.im_status, "read"))
            .collect()
    }

    /// Whether a notification is one to print: it carries the status of a followed person,
    /// different from the one last printed (the asked versions answer the same status every
    /// minute: only changes are printed). Updates the statuses shown.
    pub fn accepts(&mut self, kind: &str, payload: &str) -> bool {
        if !matches!(
            kind,
            "bus/im_status" | "mail.record/insert" | "bus.bus/im_status_updated"
        ) {
            return false;
        }
        let Ok(value) = serde_json::from_str::<Value>(payload) else {
            return false;
        };
        let mut changed = false;
        for c in presence_changes(kind, &value) {
            if c.guest {
                continue;
            }
            if let Some(shown) = self.shown.get_mut(&c.id)
                && *shown != c.status
            {
                *shown = c.status;
                changed = true;
            }
        }
        changed
    }

    /// After a reconnect: read the statuses again, and a line for each that changed meanwhile
    /// (a push sent while the socket was down is lost). A failed read changes nothing.
    pub async fn refresh(
        &mut self,
        client: &OdooClient,
    ) -> std::result::Result<Vec<Value>, String> {
        let ids = self.ids();
        let rows = client
            .partner_statuses(&ids, None, ids.len())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for row in rows {
            if let Some(shown) = self.shown.get_mut(&row.id)
                && *shown != row.im_status
            {
                *shown = row.im_status.clone();
                out.push(line(row.id, &row.name, &row.im_status, "read"));
            }
        }
        Ok(out)
    }
}

/// `{"type":"odoo-bus/presence","time":…,"partner_id":N,"name":…,"im_status":…,"source":"read"}`:
/// `im_status` as the server computes it (`online`, `away`, `offline`; 16 says `im_partner` for a
/// partner without a user, 19 may say `busy`).
pub fn line(partner_id: i64, name: &str, im_status: &str, source: &str) -> Value {
    let time = jiff::Timestamp::try_from(SystemTime::now())
        .map(|t| t.round(jiff::Unit::Millisecond).unwrap_or(t).to_string())
        .unwrap_or_default();
    json!({
        "type": LINE_TYPE,
        "time": time,
        "partner_id": partner_id,
        "name": name,
        "im_status": im_status,
        "source": source,
    })
}

/// The one partner a name means: the only match, or the only exact (case-insensitive) one.
fn pick(arg: &str, rows: Vec<PartnerStatus>) -> Result<PartnerStatus> {
    let exact: Vec<&PartnerStatus> = rows
        .iter()
        .filter(|p| p.name.to_lowercase() == arg.to_lowercase())
        .collect();
    if exact.len() == 1 {
        return Ok(exact[0].clone());
    }
    match rows.len() {
        0 => Err(Error::usage(format!(
            "--presence-of '{arg}': no user's partner has a name containing that; give another name or the partner id"
        ))),
        1 => Ok(rows.into_iter().next().unwrap_or_else(|| unreachable!())),
        n => {
            let list: Vec<String> = rows
                .iter()
                .take(5)
                .map(|p| format!("{} ({})", p.name, p.id))
                .collect();
            let more = if n > 5 { ", …" } else { "" };
            Err(Error::usage(format!(
                "--presence-of '{arg}' is ambiguous: {}{more}; give the full name or the partner id",
                list.join(", ")
            )))
        }
    }
}

fn rpc_error(e: &odoo_bus_core::odoo::rpc::RpcError, cx: &ErrorContext<'_>) -> Error {
    e.user_error(cx)
        .context("reading the partner for --presence-of")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: i64, name: &str) -> PartnerStatus {
        PartnerStatus {
            id,
            name: name.into(),
            im_status: "offline".into(),
        }
    }

    #[test]
    fn a_name_picks_the_only_or_the_exact_match() {
        assert_eq!(pick("marc", vec![p(7, "Marc Demo")]).unwrap().id, 7);
        let two = vec![p(7, "Marc Demo"), p(9, "Marc Demo Junior")];
        assert_eq!(pick("marc demo", two.clone()).unwrap().id, 7);
        let e = pick("marc", two).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.message
                .contains("ambiguous: Marc Demo (7), Marc Demo Junior (9)"),
            "{}",
            e.message
        );
        let e = pick("nobody", vec![]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("'nobody'"), "{}", e.message);
    }

    fn following(flavor: Flavor) -> PresenceOf {
        PresenceOf {
            flavor,
            people: vec![p(7, "Marc Demo")],
            shown: BTreeMap::from([(7, "offline".to_string())]),
        }
    }

    #[test]
    fn only_changes_of_the_people_followed_pass() {
        let mut f = following(Flavor::V16);
        let online = r#"{"partners": [{"id": 7, "im_status": "online"}]}"#;
        assert!(f.accepts("bus/im_status", online));
        // The same answer a minute later: not a change.
        assert!(!f.accepts("bus/im_status", online));
        assert!(!f.accepts(
            "bus/im_status",
            r#"{"partners": [{"id": 8, "im_status": "away"}]}"#
        ));
        assert!(!f.accepts("discuss.channel/new_message", r#"{"id": 1}"#));
        let mut f = following(Flavor::V18);
        assert!(f.accepts(
            "bus.bus/im_status_updated",
            r#"{"im_status": "online", "partner_id": 7}"#
        ));
        assert!(!f.accepts(
            "bus.bus/im_status_updated",
            r#"{"im_status": "online", "guest_id": 7}"#
        ));
    }

    #[test]
    fn asked_versions_ask_and_pushing_ones_subscribe() {
        let f = following(Flavor::V16);
        assert!(f.channels().is_empty());
        let ev: Value = serde_json::from_str(&f.ask_event(Some(3)).unwrap()).unwrap();
        assert_eq!(
            ev["data"]["im_status_ids_by_model"]["res.partner"],
            json!([3, 7])
        );
        let f = following(Flavor::V17Late);
        assert_eq!(f.channels(), ["odoo-presence-res.partner_7"]);
        assert!(f.ask_event(None).is_none());
    }

    #[test]
    fn the_synthetic_line_names_its_type() {
        let v = line(7, "Marc Demo", "away", "read");
        assert_eq!(v["type"], LINE_TYPE);
        assert_eq!(v["partner_id"], 7);
        assert_eq!(v["im_status"], "away");
    }
}
