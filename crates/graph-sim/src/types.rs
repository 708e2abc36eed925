//! Serializable types shared by the simulator's control API and its in-process API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One scripted misbehaviour, applied to the next request(s) for a mailbox.
///
/// JSON: `{"kind":"throttle","retry_after_secs":2}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 `ApplicationThrottled`, with `Retry-After` when set (Graph does not always send one).
    Throttle {
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// 503 `ServiceNotAvailable`, with `Retry-After` when set.
    Unavailable {
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Any status with a Graph-shaped error body.
    Status { status: u16, code: String, message: String },
    /// Sleep this long, then process the request normally.
    Delay { ms: u64 },
    /// A gateway in front of Graph answers this status (502, 504, …) itself: an HTML page or an empty body, not
    /// Graph's JSON, and none of Graph's headers. Graph may or may not have processed the request.
    Gateway {
        status: u16,
        #[serde(default)]
        body: GatewayBody,
    },
    /// Read the request, then close the connection without a response; the request is not processed.
    Drop,
    /// Process the request in full (a valid sendMail is accepted and will be delivered), then close the connection
    /// instead of answering: Graph has the message and its client cannot know.
    LoseAnswer,
}

/// What a gateway's error answer carries.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GatewayBody {
    /// A small `text/html` error page, as load balancers write them.
    #[default]
    Html,
    /// Nothing at all (`Content-Length: 0`).
    Empty,
}

/// A fault plus how many requests it applies to.
///
/// JSON: `{"kind":"throttle","retry_after_secs":2,"times":1}` (`times` defaults to 1).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ScriptedFault {
    #[serde(flatten)]
    pub fault: Fault,
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl ScriptedFault {
    /// A fault that applies to exactly one request.
    pub fn once(fault: Fault) -> Self {
        Self { fault, times: 1 }
    }

    /// A fault that applies to the next `times` requests.
    pub fn times(fault: Fault, times: u32) -> Self {
        Self { fault, times }
    }
}

impl From<Fault> for ScriptedFault {
    fn from(fault: Fault) -> Self {
        Self::once(fault)
    }
}

/// Exchange's `-AccessRight` values, serialized exactly as the cmdlets spell them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRight {
    RestrictAccess,
    DenyAccess,
}

/// An application access policy as Exchange holds it; `scope` is a plain list of mailboxes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub struct SimPolicy {
    /// An app id, or `*` for every application.
    pub app_id: String,
    pub access_right: AccessRight,
    pub scope: Vec<String>,
}

/// One sendMail request as the simulator saw it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct ReceivedRequest {
    pub seq: u64,
    pub mailbox: String,
    /// The full `Authorization` header value.
    pub authorization: Option<String>,
    /// The app id the bearer token was issued to, when the token was valid.
    pub app_id: Option<String>,
    pub client_request_id: Option<String>,
    /// The parsed body, `Null` when it was not JSON (or too large to read).
    pub body: serde_json::Value,
    pub body_bytes: usize,
    /// The status the simulator decided on; `None` while the request is in progress, when a `drop` fault closed the
    /// connection before processing it, or when the client went away first. Whether the answer was written is
    /// `fate`.
    pub status: Option<u16>,
    pub error_code: Option<String>,
    /// What became of the request: recorded on arrival, so a request whose client died is still seen.
    #[serde(default)]
    pub fate: Fate,
    pub request_id: String,
    /// RFC 3339.
    pub received_at: String,
    /// Set when the message came through a draft (`POST .../messages/{id}/send`) rather than sendMail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<DraftRecord>,
}

/// What became of a request the simulator received.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Arrived and not yet answered.
    InProgress,
    /// The answer was handed to the connection.
    #[default]
    Answered,
    /// A fault closed the connection without an answer: `drop` (before processing; `status` is `None`) or
    /// `lose_answer` (after it; `status` says what the answer would have been).
    Dropped,
    /// The client went away (closed the connection, or died) before the answer was ready; the request was not
    /// processed further.
    Abandoned,
}

/// What a draft held when it was sent.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct DraftRecord {
    pub draft_id: String,
    /// Decoded bytes of every attachment, inline in the draft, posted or uploaded.
    pub attachment_bytes: u64,
    pub attachments: Vec<AttachmentRecord>,
}

/// One attachment of a sent draft.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct AttachmentRecord {
    pub name: String,
    pub size: u64,
    pub content_type: Option<String>,
    /// `draft` (in the created message), `post` (`POST .../attachments`) or `session` (an upload session).
    pub via: String,
    /// Hex SHA-256 of the decoded (or reassembled) bytes.
    pub sha256: String,
    /// The byte ranges as uploaded, in order; empty unless `via` is `session`.
    pub chunks: Vec<ChunkRecord>,
}

/// One accepted `PUT` to an upload URL: `Content-Range: bytes start-end/total`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRecord {
    pub start: u64,
    pub end: u64,
}

/// One request to a draft endpoint (create, attach, createUploadSession, upload, send), whatever its outcome.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub struct DraftStep {
    /// `create`, `attach`, `session`, `upload`, `send` or `delete`.
    pub step: String,
    pub mailbox: String,
    pub draft_id: Option<String>,
    pub client_request_id: Option<String>,
    /// Whether an `Authorization` header came with it (never wanted on `upload`).
    pub had_authorization: bool,
    /// `Content-Range` of an upload, as sent.
    pub content_range: Option<String>,
    pub body_bytes: usize,
    /// The status sent back; `None` when the connection was dropped.
    pub status: Option<u16>,
    pub error_code: Option<String>,
}

/// A draft still in its mailbox's Drafts folder: created, and neither sent nor deleted.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub struct DraftInfo {
    pub draft_id: String,
    /// Lower-cased.
    pub mailbox: String,
    /// The `client-request-id` of the request that created it.
    pub client_request_id: Option<String>,
    pub attachments: usize,
}

/// Counters since start or the last reset.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub struct SimStats {
    pub token_requests: u64,
    pub send_requests: u64,
    pub accepted: u64,
    /// Requests to the draft endpoints other than `send` (which counts in `send_requests`).
    #[serde(default)]
    pub draft_requests: u64,
    /// Highest number of concurrent sendMail requests seen, per lower-cased mailbox.
    pub max_in_flight: BTreeMap<String, u32>,
}

/// Body of `POST /sim/faults`.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case")]
pub struct FaultRequest {
    pub mailbox: String,
    pub faults: Vec<ScriptedFault>,
}
