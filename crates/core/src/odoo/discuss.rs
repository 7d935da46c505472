//! Discuss over HTTP: post a chat message (§7.1) and check a channel is readable.
//!
//! Model name: `discuss.channel` (Odoo 17 and later; 16 called it `mail.channel`): the
//! [`Flavor`] says which, and what the post takes and returns.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::odoo::client::OdooClient;
use crate::odoo::rpc::RpcError;
use crate::odoo::version::Flavor;
pub use crate::odoo::version::message_id_from_post_result;

/// A channel as `search_read` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChannelInfo {
    pub id: i64,
    #[serde(default, deserialize_with = "string_or_false")]
    pub name: String,
    /// `channel`, `group`, `chat`, `livechat`, …
    #[serde(default, deserialize_with = "string_or_false")]
    pub channel_type: String,
}

fn string_or_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Value::deserialize(d)?
        .as_str()
        .unwrap_or_default()
        .to_string())
}

impl OdooClient {
    /// Post `body_html` (already HTML: escape user text first) as a comment in a channel.
    /// `temporary_id` is echoed back in the bus payload so the sender can spot its own message.
    /// Returns the new message's id.
    pub async fn post_message(
        &self,
        flavor: Flavor,
        channel_id: i64,
        body_html: &str,
        temporary_id: Option<f64>,
    ) -> Result<i64, RpcError> {
        let params = flavor.post_params(channel_id, body_html, temporary_id);
        let result: Value = self
            .call("/mail/message/post", params)
            .await?
            .ok_or_else(|| RpcError::BadResponse("/mail/message/post returned nothing".into()))?;
        message_id_from_post_result(&result).ok_or_else(|| {
            RpcError::BadResponse("/mail/message/post returned no message id".into())
        })
    }

    /// The channel if the user can read it, `None` if it does not exist or is not readable
    /// (Odoo's record rules make both look the same).
    pub async fn readable_channel(
        &self,
        flavor: Flavor,
        channel_id: i64,
    ) -> Result<Option<ChannelInfo>, RpcError> {
        let model = flavor.chat_model();
        let params = json!({
            "model": model,
            "method": "search_read",
            "args": [[["id", "=", channel_id]]],
            "kwargs": {"fields": ["name", "channel_type"]},
        });
        let rows: Option<Vec<ChannelInfo>> = self
            .call(&format!("/web/dataset/call_kw/{model}/search_read"), params)
            .await?;
        Ok(rows.unwrap_or_default().into_iter().next())
    }
}

impl OdooClient {
    /// The names of the partners that are users (the people presence and typing lines speak
    /// of), in ONE read: the pretty printer's names for payloads that carry only an id (19's
    /// presence, 16's `bus/im_status`). At most `limit` rows.
    pub async fn user_partner_names(&self, limit: usize) -> Result<Vec<(u64, String)>, RpcError> {
        let params = json!({
            "model": "res.partner",
            "method": "search_read",
            "args": [[["user_ids", "!=", false]]],
            "kwargs": {"fields": ["name"], "limit": limit},
        });
        let rows: Option<Vec<Value>> = self
            .call("/web/dataset/call_kw/res.partner/search_read", params)
            .await?;
        Ok(rows
            .unwrap_or_default()
            .iter()
            .filter_map(|r| Some((r.get("id")?.as_u64()?, r.get("name")?.as_str()?.to_string())))
            .collect())
    }
}

/// A person as `tail --presence-of` follows them: `res.partner` `id`, `name` and the
/// `im_status` the server computes now (16: `im_partner` for a partner without a user).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PartnerStatus {
    pub id: i64,
    #[serde(default, deserialize_with = "string_or_false")]
    pub name: String,
    #[serde(default, deserialize_with = "string_or_false")]
    pub im_status: String,
}

impl OdooClient {
    /// `res.partner` rows with their current `im_status`: by id (`[["id","in",ids]]`), or, for
    /// a name, the users' partners whose name contains it (`ilike`, as `name_search` does), at
    /// most `limit`. Every version 16-19 computes `im_status` on `res.partner`.
    pub async fn partner_statuses(
        &self,
        ids: &[i64],
        name: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PartnerStatus>, RpcError> {
        let domain = match name {
            Some(name) => json!([["name", "ilike", name], ["user_ids", "!=", false]]),
            None => json!([["id", "in", ids]]),
        };
        let params = json!({
            "model": "res.partner",
            "method": "search_read",
            "args": [domain],
            "kwargs": {"fields": ["name", "im_status"], "limit": limit},
        });
        let rows: Option<Vec<PartnerStatus>> = self
            .call("/web/dataset/call_kw/res.partner/search_read", params)
            .await?;
        Ok(rows.unwrap_or_default())
    }
}

/// Plain chat text as the body HTML `/mail/message/post` expects (the body is taken as HTML,
/// §7.1): `& < > " '` escaped and every line break (`\n`, `\r\n`, `\r`) turned into `<br>`, as
/// the web client's composer does, so the text shows exactly as typed.
pub fn text_to_html(text: &str) -> String {
    let escaped = html_escape::encode_quoted_attribute(text);
    let mut html = String::with_capacity(escaped.len());
    let mut lines = escaped.split('\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        html.push_str(&line.replace('\r', "<br>"));
        if lines.peek().is_some() {
            html.push_str("<br>");
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_line_breaks_become_br() {
        assert_eq!(text_to_html("hello"), "hello");
        assert_eq!(
            text_to_html(r#"a & b <i>x</i> "q" 'r'"#),
            "a &amp; b &lt;i&gt;x&lt;/i&gt; &quot;q&quot; &#x27;r&#x27;"
        );
        assert_eq!(
            text_to_html("one\ntwo\r\nthree\rfour"),
            "one<br>two<br>three<br>four"
        );
        assert_eq!(text_to_html("\n\n"), "<br><br>");
        assert_eq!(text_to_html("café 😀 &amp;"), "café 😀 &amp;amp;");
    }

    #[test]
    fn channel_rows_tolerate_false() {
        let c: ChannelInfo =
            serde_json::from_value(json!({"id": 1, "name": false, "channel_type": "chat"}))
                .unwrap();
        assert_eq!(c.name, "");
        assert_eq!(c.channel_type, "chat");
    }
}
