//! The two date formats Odoo puts on the wire.

use jiff::{SignedDuration, Timestamp};

/// `fields.Datetime` as serialised in payloads: `"YYYY-MM-DD HH:MM:SS"`, UTC.
pub fn odoo_now() -> String {
    Timestamp::now().strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// An HTTP date `days` from now, as werkzeug writes cookie `Expires`.
pub fn http_date_in_days(days: i64) -> String {
    let when = Timestamp::now()
        .checked_add(SignedDuration::from_hours(24 * days))
        .unwrap_or_else(|_| Timestamp::now());
    when.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Seconds since the epoch, for CSRF token expiries.
pub fn unix_now() -> i64 {
    Timestamp::now().as_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let now = odoo_now();
        assert_eq!(now.len(), 19);
        assert_eq!(&now[4..5], "-");
        assert_eq!(&now[10..11], " ");
        let expires = http_date_in_days(365);
        assert!(expires.ends_with(" GMT"), "{expires}");
        assert_eq!(&expires[3..5], ", ");
    }
}
