//! What travels over Odoo's `/websocket`, as pure functions: batch decoding, the client events,
//! and what each close code means for a client (reference: odoo-bus-protocol.md §2.8, §3, §4, §6.2).
//!
//! Decoding is on the hot path of `tail`: a batch is decoded with strings borrowed from the frame
//! text and every payload kept as the raw JSON it arrived as, so printing NDJSON copies bytes and
//! never re-serializes. Only the `Vec` of the batch is allocated per frame.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde::Serialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// One `bus.bus` row as delivered: `{"id": N, "message": {"type": T, "payload": P}}`.
#[derive(Debug, Clone)]
pub struct Notification<'a> {
    pub id: u64,
    /// The notification type (`discuss.channel/new_message`, …). Borrowed from the frame unless
    /// the server escaped something in it (Odoo never does for its own types).
    pub kind: Cow<'a, str>,
    /// The payload exactly as received (Python spacing and `\u` escapes included); JSON `null`
    /// when the message has no payload.
    pub payload: &'a RawValue,
}

/// Why a frame is not an Odoo batch. Displays a short reason such as `element 3 has no id`;
/// elements are numbered from 0, as in jq's `.[3]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl DecodeError {
    fn new(reason: impl Into<String>) -> Self {
        DecodeError(reason.into())
    }

    /// The reason, without any prefix.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The payload of a message that has none: a raw JSON `null` that lives forever, so a
/// `Notification` can always hand out a `&RawValue`.
static NULL_PAYLOAD: LazyLock<&'static RawValue> = LazyLock::new(|| {
    serde_json::from_str::<&'static RawValue>("null").expect("the literal `null` is valid JSON")
});

/// Decodes one websocket TEXT frame into its notifications, in frame order.
///
/// Accepts what Odoo's `json.dumps` produces (`", "`/`": "` separators, `\uXXXX` escapes, keys in
/// any order, unknown keys ignored). Rejects what Odoo never sends and a client cannot use: a
/// non-array, an empty array, an element without an integer `id`, a message without a `type`.
///
/// A plain frame takes the hand-written path of [`fast`]; anything else, errors included, is
/// decided by serde_json ([`decode_with_serde`]), which the fast path agrees with.
pub fn decode_batch(text: &str) -> Result<Vec<Notification<'_>>, DecodeError> {
    if let Some(batch) = fast::decode(text) {
        debug_assert_eq!(
            summary(&Ok(batch.clone())),
            summary(&decode_with_serde(text)),
            "the fast path disagrees with serde on {text:?}"
        );
        return Ok(batch);
    }
    decode_with_serde(text)
}

/// What a decode produced, comparably (debug checks and tests).
fn summary<'r>(
    decoded: &'r Result<Vec<Notification<'_>>, DecodeError>,
) -> Result<Vec<(u64, &'r str, &'r str)>, DecodeError> {
    match decoded {
        Ok(batch) => Ok(batch
            .iter()
            .map(|n| (n.id, n.kind.as_ref(), n.payload.get()))
            .collect()),
        Err(e) => Err(e.clone()),
    }
}

/// The serde_json decoder: the reference for what is accepted, and the error messages.
fn decode_with_serde(text: &str) -> Result<Vec<Notification<'_>>, DecodeError> {
    match text
        .trim_start_matches(is_json_whitespace)
        .as_bytes()
        .first()
    {
        Some(b'[') => {}
        None => return Err(DecodeError::new("empty frame")),
        Some(_) => return Err(DecodeError::new("not a JSON array")),
    }
    let ctx = Context::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let decoded = de
        .deserialize_seq(BatchVisitor { ctx: &ctx })
        .and_then(|batch| de.end().map(|()| batch));
    match decoded {
        Ok(batch) if batch.is_empty() => {
            Err(DecodeError::new("empty batch (Odoo never sends one)"))
        }
        Ok(batch) => Ok(batch),
        Err(e) => Err(ctx.explain(&e)),
    }
}

fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Where decoding is, so an error can say which element was wrong.
///
/// serde's errors cannot carry our context, so a problem we detect ourselves is parked here and
/// the error that unwinds through serde_json is only a carrier.
#[derive(Default)]
struct Context {
    element: Cell<Option<usize>>,
    problem: Cell<Option<String>>,
}

impl Context {
    fn fail<E: de::Error>(&self, problem: String) -> E {
        let carrier = E::custom(&problem);
        self.problem.set(Some(problem));
        carrier
    }

    fn explain(&self, e: &serde_json::Error) -> DecodeError {
        if let Some(problem) = self.problem.take() {
            return DecodeError(problem);
        }
        let whole = e.to_string();
        let place = match self.element.get() {
            Some(i) => format!("element {i}: "),
            None => String::new(),
        };
        if e.is_data() {
            // serde's own wording ("invalid type: integer `5`, expected a string") is clear; the
            // position serde_json appends is noise once the element is named.
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let reason = whole.strip_suffix(&suffix).unwrap_or(&whole);
            DecodeError(format!("{place}{reason}"))
        } else {
            DecodeError(format!("{place}invalid JSON: {whole}"))
        }
    }
}

struct BatchVisitor<'c> {
    ctx: &'c Context,
}

impl<'de> Visitor<'de> for BatchVisitor<'_> {
    type Value = Vec<Notification<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of notifications")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // serde_json gives no size hint; 16 covers the usual batch without regrowing.
        let mut batch = Vec::with_capacity(16);
        loop {
            let index = batch.len();
            self.ctx.element.set(Some(index));
            match seq.next_element_seed(ElementSeed {
                ctx: self.ctx,
                index,
            })? {
                Some(notification) => batch.push(notification),
                None => break,
            }
        }
        self.ctx.element.set(None);
        Ok(batch)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ElementField {
    Id,
    Message,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum MessageField {
    Type,
    Payload,
    #[serde(other)]
    Other,
}

/// A string that stays borrowed from the frame when it has no escapes.
#[derive(Deserialize)]
#[serde(transparent)]
struct BorrowedStr<'a>(#[serde(borrow)] Cow<'a, str>);

struct ElementSeed<'c> {
    ctx: &'c Context,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = Notification<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_> {
    type Value = Notification<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a notification object {"id": N, "message": {...}}"#)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (ctx, i) = (self.ctx, self.index);
        let mut id: Option<&'de RawValue> = None;
        let mut message = None;
        while let Some(field) = map.next_key::<ElementField>()? {
            match field {
                ElementField::Id => id = Some(map.next_value()?),
                ElementField::Message => message = Some(map.next_value_seed(MessageSeed)?),
                ElementField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let id = id.ok_or_else(|| ctx.fail(format!("element {i} has no id")))?;
        // The id arrives as raw text so that "1.5", "-1" or "\"12\"" get our message, not serde's.
        let id = id.get().parse::<u64>().map_err(|_| {
            ctx.fail(format!(
                "element {i}: id {} is not a non-negative integer",
                clip(id.get(), 30)
            ))
        })?;
        let (kind, payload) =
            message.ok_or_else(|| ctx.fail(format!("element {i} (id {id}) has no message")))?;
        let kind = kind.ok_or_else(|| ctx.fail(format!("element {i} (id {id}) has no type")))?;
        Ok(Notification {
            id,
            kind,
            payload: payload.unwrap_or(*NULL_PAYLOAD),
        })
    }
}

struct MessageSeed;

type MessageParts<'de> = (Option<Cow<'de, str>>, Option<&'de RawValue>);

impl<'de> DeserializeSeed<'de> for MessageSeed {
    type Value = MessageParts<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed {
    type Value = MessageParts<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a message object {"type": T, "payload": P}"#)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut kind = None;
        let mut payload = None;
        while let Some(field) = map.next_key::<MessageField>()? {
            match field {
                MessageField::Type => kind = Some(map.next_value::<BorrowedStr<'de>>()?.0),
                MessageField::Payload => payload = Some(map.next_value::<&'de RawValue>()?),
                MessageField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((kind, payload))
    }
}

/// At most `max` chars of `s`, for quoting untrusted input in an error message.
fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &s[..cut])),
        None => Cow::Borrowed(s),
    }
}

// ---------------------------------------------------------------------------------------------
// Client → server events (§3)
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct Envelope<'a, D: Serialize> {
    event_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
}

#[derive(Serialize)]
struct SubscribeData<'a> {
    channels: &'a [String],
    last: u64,
}

#[derive(Serialize)]
struct PresenceData {
    inactivity_period: u64,
    im_status_ids_by_model: EmptyObject,
}

/// Serializes as `{}`.
#[derive(Serialize)]
struct EmptyObject {}

fn envelope<D: Serialize>(event_name: &str, data: Option<D>) -> String {
    // Only strings, integers and already-validated raw JSON go in: serializing cannot fail.
    serde_json::to_string(&Envelope { event_name, data }).expect("a client event always serializes")
}

/// `{"event_name":"subscribe","data":{"channels":[…],"last":N}}`. The server replaces the whole
/// subscription with it, so `channels` is the complete list every time (§3.2). `last` is the
/// highest id already seen (0: only the last 50 s).
pub fn subscribe_event(channels: &[String], last: u64) -> String {
    envelope("subscribe", Some(SubscribeData { channels, last }))
}

/// The 18.0 `update_presence` event. 18.0 requires exactly these two keys (the ids map is unused
/// but must be present, §3.3); `inactivity_period` > 1 800 000 ms makes the user "away".
pub fn update_presence_event(inactivity_period_ms: u64) -> String {
    envelope(
        "update_presence",
        Some(PresenceData {
            inactivity_period: inactivity_period_ms,
            im_status_ids_by_model: EmptyObject {},
        }),
    )
}

/// Any event, for `send --event`. Without `data` the key is left out (the envelope allows it,
/// §3.1); the server ignores events it does not know and never answers them.
pub fn event(name: &str, data: Option<&RawValue>) -> String {
    envelope(name, data)
}

// ---------------------------------------------------------------------------------------------
// Close codes (§2.8) and what a client does about them (§6.2)
// ---------------------------------------------------------------------------------------------

/// Close codes of Odoo's `CloseCode` enum (`addons/bus/websocket.py`), plus the RFC 6455 codes a
/// client may see reported locally.
pub mod close_code {
    pub const CLEAN: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INCORRECT_DATA: u16 = 1003;
    /// RFC 6455: "no status code was present"; never on the wire.
    pub const NO_STATUS: u16 = 1005;
    /// Never on the wire: the TCP connection dropped without a close frame.
    pub const ABNORMAL_CLOSURE: u16 = 1006;
    pub const INCONSISTENT_DATA: u16 = 1007;
    pub const MESSAGE_VIOLATING_POLICY: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const EXTENSION_NEGOTIATION_FAILED: u16 = 1010;
    pub const SERVER_ERROR: u16 = 1011;
    pub const RESTART: u16 = 1012;
    pub const TRY_LATER: u16 = 1013;
    pub const BAD_GATEWAY: u16 = 1014;
    /// RFC 6455: TLS handshake failure; never on the wire.
    pub const TLS_HANDSHAKE: u16 = 1015;
    pub const SESSION_EXPIRED: u16 = 4001;
    pub const KEEP_ALIVE_TIMEOUT: u16 = 4002;
    /// 19.0 server only (`KILL_NOW`); 18.0's browser worker uses 4003 for "reconnecting".
    pub const KILL_NOW: u16 = 4003;
}

/// The symbolic name of a close code, as Odoo spells it (`"SESSION_EXPIRED"`, `"TRY_LATER"`);
/// `"UNKNOWN"` for codes Odoo does not define.
pub fn close_code_name(code: u16) -> &'static str {
    use close_code::*;
    match code {
        CLEAN => "CLEAN",
        GOING_AWAY => "GOING_AWAY",
        PROTOCOL_ERROR => "PROTOCOL_ERROR",
        INCORRECT_DATA => "INCORRECT_DATA",
        NO_STATUS => "NO_STATUS",
        ABNORMAL_CLOSURE => "ABNORMAL_CLOSURE",
        INCONSISTENT_DATA => "INCONSISTENT_DATA",
        MESSAGE_VIOLATING_POLICY => "MESSAGE_VIOLATING_POLICY",
        MESSAGE_TOO_BIG => "MESSAGE_TOO_BIG",
        EXTENSION_NEGOTIATION_FAILED => "EXTENSION_NEGOTIATION_FAILED",
        SERVER_ERROR => "SERVER_ERROR",
        RESTART => "RESTART",
        TRY_LATER => "TRY_LATER",
        BAD_GATEWAY => "BAD_GATEWAY",
        TLS_HANDSHAKE => "TLS_HANDSHAKE",
        SESSION_EXPIRED => "SESSION_EXPIRED",
        KEEP_ALIVE_TIMEOUT => "KEEP_ALIVE_TIMEOUT",
        KILL_NOW => "KILL_NOW",
        _ => "UNKNOWN",
    }
}

/// The close reason Odoo sends with 1000 when the `?version=` of the URL is not its own.
pub const OUTDATED_VERSION_REASON: &str = "OUTDATED_VERSION";

/// What the client should do after the connection closed, mirroring Odoo's worker (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// 1000: the server ended the conversation on purpose; do not reconnect.
    Stop,
    /// 1000 with reason `OUTDATED_VERSION`: our `?version=` is stale; log in again to refresh it.
    Outdated,
    /// 4001: the session is gone; reconnecting with it is pointless, log in again.
    SessionExpired,
    /// 4002: the connection reached its planned lifetime; reconnect at once.
    ReconnectNow,
    /// Anything else, or no close frame at all: reconnect with growing delays.
    Backoff,
}

/// Decides [`CloseAction`] from the close frame (`None` when the TCP connection just dropped).
pub fn close_action(code: Option<u16>, reason: &str) -> CloseAction {
    match code {
        Some(close_code::CLEAN) if reason.trim() == OUTDATED_VERSION_REASON => {
            CloseAction::Outdated
        }
        Some(close_code::CLEAN) => CloseAction::Stop,
        Some(close_code::SESSION_EXPIRED) => CloseAction::SessionExpired,
        Some(close_code::KEEP_ALIVE_TIMEOUT) => CloseAction::ReconnectNow,
        _ => CloseAction::Backoff,
    }
}

/// One sentence for stderr saying what a close means, e.g.
/// `closed by the server (4001 SESSION_EXPIRED): the session is no longer valid; log in again`.
/// A non-empty reason is quoted (cut to 120 chars, control characters removed).
pub fn close_explanation(code: u16, reason: &str) -> String {
    use close_code::*;
    let meaning = match code {
        CLEAN if reason.trim() == OUTDATED_VERSION_REASON => {
            "the server runs a different websocket worker version; log in again to pick up the new one"
        }
        CLEAN => "the server closed the connection normally",
        GOING_AWAY => "the server is shutting down or restarting",
        PROTOCOL_ERROR => {
            "the server saw a websocket protocol violation (a bug in odoo-bus or a proxy in between)"
        }
        INCORRECT_DATA => "the server refused the kind of data it received",
        NO_STATUS => "the connection was closed without a status code",
        ABNORMAL_CLOSURE => {
            "the connection dropped without a close frame (network, proxy or server crash)"
        }
        INCONSISTENT_DATA => "the server received a message that was not valid UTF-8",
        MESSAGE_VIOLATING_POLICY => "the server refused a message by policy",
        MESSAGE_TOO_BIG => "a message sent to the server was larger than its 1 MiB limit",
        EXTENSION_NEGOTIATION_FAILED => "a websocket extension could not be negotiated",
        SERVER_ERROR => "the server hit an internal error; its log has the traceback",
        RESTART => "the server is restarting",
        TRY_LATER => {
            "the server is overloaded or rate-limited this client (over 10 frames in 2 s); retrying later"
        }
        BAD_GATEWAY => "a gateway in front of the server failed",
        TLS_HANDSHAKE => "the TLS handshake failed",
        SESSION_EXPIRED => {
            "the session is no longer valid (logged out, expired, or the password changed); log in again"
        }
        KEEP_ALIVE_TIMEOUT => "the connection reached its maximum lifetime; reconnecting at once",
        KILL_NOW => "the server dropped the connection at once (shutdown or worker recycling)",
        3000..=3999 => "closed with a code registered for libraries or frameworks",
        4000..=4999 => "closed with an application-specific code Odoo does not define",
        _ => "closed with a code outside the websocket standard",
    };
    let name = close_code_name(code);
    let head = if name == "UNKNOWN" {
        format!("connection closed ({code})")
    } else {
        format!("connection closed ({code} {name})")
    };
    let reason: String = reason.trim().chars().filter(|c| !c.is_control()).collect();
    if reason.is_empty() || reason == OUTDATED_VERSION_REASON {
        format!("{head}: {meaning}")
    } else {
        format!("{head}: {meaning} (reason: \"{}\")", clip(&reason, 120))
    }
}

mod fast;

#[cfg(test)]
mod tests;
