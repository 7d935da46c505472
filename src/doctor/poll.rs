//! The `poll` check, run only when the websocket upgrade failed: can odoo-bus still listen by
//! polling `/websocket/peek_notifications`? It owns that one request and its verdict; it does
//! not change the run's outcome (the websocket is still broken for the browsers).

use super::check::Verdict;
use odoo_bus_core::bus::poll::{self, PeekError};
use odoo_bus_core::odoo::client::OdooClient;

/// One first poll (it marks the session as a polling one, as a browser's fallback does).
pub async fn check_poll(client: &OdooClient) -> Verdict {
    match poll::peek(client, &[], 0, true, poll::PEEK_ANSWERS_WITHIN).await {
        Ok(_) => Verdict::warn(
            format!(
                "the websocket is blocked at the proxy; odoo-bus can still listen by polling {}",
                poll::PEEK_ROUTE
            ),
            "`tail` and `send --wait` fall back to polling by themselves (--transport poll skips the websocket); browsers need the proxy fixed",
        ),
        Err(PeekError::Unmarked) => Verdict::fail(
            "polling was refused with error 100 on a first poll",
            "the session store may be broken; run `odoo-bus login` and try again",
        ),
        Err(PeekError::Failed(why)) => Verdict::fail(
            format!("polling does not work either: {why}"),
            // The same failure may be a proxy's rule or an Odoo that is not answering (a full
            // gevent pool, a timeout): the upgrade check above has the evidence, so this hint
            // names both readings instead of guessing.
            "a 404/403/405 here means the proxy blocks /websocket/* entirely: route /websocket/peek_notifications (a plain POST) to Odoo; a 5xx or a timeout means Odoo is not answering there either: see the upgrade check's cause above",
        ),
    }
}
