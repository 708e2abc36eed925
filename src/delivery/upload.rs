//! Messages too large for one sendMail (Graph refuses request bodies over 4 MB) go through a draft:
//! `POST /users/{mailbox}/messages` with the message and its small attachments, `POST .../attachments` for
//! further small ones, an upload session per large attachment (`createUploadSession`, then `PUT`s of at most
//! 4 MiB to the pre-authenticated `uploadUrl`, without `Authorization`), and finally `POST .../send`.
//! This needs the Mail.ReadWrite application permission, not only Mail.Send, so the API accepts such messages only
//! with `MAILGATE_LARGE_MESSAGES=true` (`domain::message` refuses them otherwise).
//!
//! The result is one [`Attempt`], classified like a sendMail answer. Nothing is sent before `/send`, so a failure
//! of an earlier step is never ambiguous: a transport failure or a 5xx there is reported as
//! [`Transport::NotSent`] (keeping the step's status and code for the audit), and a 429 comes back with its
//! `Retry-After`. A draft that was not sent is deleted (`DELETE /users/{mailbox}/messages/{id}`) before the attempt
//! ends, so its attachments do not stay in the mailbox's Drafts folder; a retry starts over with a new one. Only a
//! failure of `/send` itself can be ambiguous, and then the draft is left alone: it may be on its way.
//! A draft is always kept in Sent Items once sent, so a message that takes this path cannot ask for
//! `saveToSentItems: false`: the API refuses it (`domain::message`).

use std::time::Instant;

use base64::Engine;
use reqwest::{RequestBuilder, Url};
use serde_json::{Value, json};
use uuid::Uuid;

use super::graph::{Attempt, GraphClient, Transport, classify_transport, read_response};
use crate::domain::message::GRAPH_MAX_REQUEST_BYTES;
use crate::domain::message::size::{base64_decoded_len, json_len as encoded_len};

/// Attachments this large (decoded) go through an upload session; Graph refuses sessions for small files.
pub const UPLOAD_SESSION_MIN_BYTES: usize = 3_000_000;
/// At most this much base64 of small attachments rides in the draft itself; the rest is posted one by one.
const DRAFT_ATTACHMENT_BUDGET: usize = 3_000_000;
/// Room left in a 4 MB request for everything around the attachments.
const REQUEST_MARGIN: usize = 64 * 1024;
/// Bytes per `PUT`: a multiple of 320 KiB, as Graph recommends, below its 4 MiB limit.
pub const CHUNK_BYTES: usize = 12 * 320 * 1024;
const _: () = assert!(CHUNK_BYTES <= 4 * 1024 * 1024 && CHUNK_BYTES.is_multiple_of(320 * 1024));

/// Whether `body` (a sendMail body) is over Graph's request limit and must go through a draft.
pub fn needs_upload(body: &Value) -> bool {
    encoded_len(body) > GRAPH_MAX_REQUEST_BYTES
}

/// How one message is split across the draft, attachment posts and upload sessions.
#[derive(Debug)]
pub struct Plan {
    pub draft: Value,
    pub posts: Vec<Value>,
    /// `AttachmentItem` and the decoded bytes.
    pub uploads: Vec<(Value, Vec<u8>)>,
}

/// Split a sendMail body; the error (undecodable base64, which validation refuses earlier) is a bug.
pub fn plan(payload: &Value) -> Result<Plan, String> {
    let mut draft = payload["message"].clone();
    let attachments = match draft.as_object_mut().and_then(|m| m.remove("attachments")) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let room = GRAPH_MAX_REQUEST_BYTES.saturating_sub(encoded_len(&draft) + REQUEST_MARGIN);
    let mut budget = DRAFT_ATTACHMENT_BUDGET.min(room);
    let (mut inline, mut posts, mut uploads) = (Vec::new(), Vec::new(), Vec::new());
    for a in attachments {
        let b64 = a["contentBytes"].as_str().unwrap_or_default();
        let decoded_len = base64_decoded_len(b64).map_err(|e| format!("attachment {}: {e}", a["name"]))?;
        if decoded_len < UPLOAD_SESSION_MIN_BYTES && encoded_len(&a) <= budget {
            budget -= encoded_len(&a);
            inline.push(a);
        } else if decoded_len < UPLOAD_SESSION_MIN_BYTES {
            posts.push(a);
        } else {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("attachment {} is not base64: {e}", a["name"]))?;
            let mut item = json!({"attachmentType": "file", "name": a["name"], "size": bytes.len()});
            for key in ["contentType", "isInline", "contentId"] {
                if let Some(v) = a.get(key).filter(|v| !v.is_null()) {
                    item[key] = v.clone();
                }
            }
            uploads.push((item, bytes));
        }
    }
    if !inline.is_empty() {
        draft["attachments"] = Value::Array(inline);
    }
    Ok(Plan { draft, posts, uploads })
}

/// Send `payload` (a sendMail body) through a draft; see the module docs for what the result means.
pub async fn send_large(graph: &GraphClient, token: &str, mailbox: &str, message_id: Uuid, payload: &Value) -> Attempt {
    let started = Instant::now();
    let mut attempt = match plan(payload) {
        Ok(plan) => {
            let steps = Steps { graph, token, mailbox, crid: message_id.to_string() };
            steps.run(plan).await.unwrap_or_else(|failed| failed)
        }
        Err(e) => Attempt { transport: Some(Transport::NotSent(e)), ..Attempt::default() },
    };
    attempt.latency = started.elapsed();
    attempt
}

struct Steps<'a> {
    graph: &'a GraphClient,
    token: &'a str,
    mailbox: &'a str,
    crid: String,
}

/// A step's success: status, JSON body (`Null` when empty), `request-id`.
type Answer = (u16, Value, Option<String>);

impl Steps<'_> {
    async fn run(&self, plan: Plan) -> Result<Attempt, Attempt> {
        let url = self.graph.user_url(self.mailbox, &["messages"]);
        let (_, draft, _) = self.call("create draft", self.authed(url).json(&plan.draft), false).await?;
        let Some(id) = draft["id"].as_str() else {
            return Err(not_sent("create draft: the answer held no draft id".to_owned()));
        };
        if let Err(failed) = self.fill(id, &plan).await {
            self.discard(id).await;
            return Err(failed);
        }
        let url = self.graph.user_url(self.mailbox, &["messages", id, "send"]);
        match self.call("send draft", self.authed(url), true).await {
            Ok((status, _, request_id)) => Ok(Attempt { status: Some(status), request_id, ..Attempt::default() }),
            Err(failed) => {
                // A draft that may have been sent is Graph's now: deleting it could only lose the message.
                if !may_have_sent(&failed) {
                    self.discard(id).await;
                }
                Err(failed)
            }
        }
    }

    /// The draft's further attachments: posted, or uploaded through sessions.
    async fn fill(&self, id: &str, plan: &Plan) -> Result<(), Attempt> {
        for post in &plan.posts {
            let url = self.graph.user_url(self.mailbox, &["messages", id, "attachments"]);
            self.call("add attachment", self.authed(url).json(post), false).await?;
        }
        for (item, bytes) in &plan.uploads {
            self.upload(id, item, bytes).await?;
        }
        Ok(())
    }

    /// Deletes a draft that was not sent, so that it does not stay in the mailbox's Drafts folder with its
    /// attachments (a retry starts with a new one). The attempt's outcome is already known; a failure here is only
    /// logged.
    async fn discard(&self, id: &str) {
        let url = self.graph.user_url(self.mailbox, &["messages", id]);
        let request = self.graph.http.delete(url).bearer_auth(self.token).header("client-request-id", &self.crid);
        match request.send().await {
            Ok(r) if r.status().is_success() => tracing::info!("deleted the unsent draft"),
            Ok(r) => tracing::warn!(
                status = r.status().as_u16(),
                "the unsent draft could not be deleted; it stays in Drafts"
            ),
            Err(e) => tracing::warn!(error = %e, "the unsent draft could not be deleted; it stays in Drafts"),
        }
    }

    fn authed(&self, url: Url) -> RequestBuilder {
        self.graph.http.post(url).bearer_auth(self.token).header("client-request-id", &self.crid)
    }

    async fn upload(&self, id: &str, item: &Value, bytes: &[u8]) -> Result<(), Attempt> {
        let url = self.graph.user_url(self.mailbox, &["messages", id, "attachments", "createUploadSession"]);
        let body = json!({ "AttachmentItem": item });
        let (_, session, _) = self.call("create upload session", self.authed(url).json(&body), false).await?;
        let upload_url = session["uploadUrl"].as_str().and_then(|u| Url::parse(u).ok());
        let Some(upload_url) = upload_url else {
            return Err(not_sent("create upload session: the answer held no valid uploadUrl".to_owned()));
        };
        let total = bytes.len();
        for (i, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
            let start = i * CHUNK_BYTES;
            let end = start + chunk.len() - 1;
            // The URL is pre-authenticated: the bearer token must not travel with it.
            let put = self
                .graph
                .http
                .put(upload_url.clone())
                .header("client-request-id", &self.crid)
                .header("Content-Range", format!("bytes {start}-{end}/{total}"))
                .body(chunk.to_vec());
            self.call("upload attachment", put, false).await?;
        }
        Ok(())
    }

    /// One request. `ambiguous` marks the request whose transport failure may have sent the message.
    async fn call(&self, step: &str, request: RequestBuilder, ambiguous: bool) -> Result<Answer, Attempt> {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let transport = match classify_transport(&e) {
                    t if ambiguous => t,
                    Transport::NotSent(t) | Transport::MaybeSent(t) => Transport::NotSent(format!("{step}: {t}")),
                };
                return Err(Attempt { transport: Some(transport), ..Attempt::default() });
            }
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            let request_id = response.headers().get("request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            // The body of a success matters only before `/send` (ids and URLs); an unreadable one fails the step.
            let body = match response.bytes().await {
                Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Err(e) if !ambiguous => return Err(not_sent(format!("{step}: answer unreadable: {e}"))),
                Err(_) => Value::Null,
            };
            return Ok((status, body, request_id));
        }
        let mut failed = read_response(response).await;
        failed.message = Some(format!("{step}: {}", failed.message.as_deref().unwrap_or("refused")));
        // Nothing is sent before `/send`: a server error there is safe to retry, unlike one from sendMail.
        if !ambiguous && status >= 500 && status != 503 {
            failed.transport = Some(Transport::NotSent(format!("{step} answered {status}; nothing was sent")));
        }
        Err(failed)
    }
}

/// Whether a failed `/send` may have sent the draft: an answer that never came, or a server error other than 503.
fn may_have_sent(failed: &Attempt) -> bool {
    match &failed.transport {
        Some(Transport::MaybeSent(_)) => true,
        Some(Transport::NotSent(_)) => false,
        None => failed.status.is_none_or(|s| s >= 500 && s != 503),
    }
}

fn not_sent(text: String) -> Attempt {
    Attempt { transport: Some(Transport::NotSent(text)), ..Attempt::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(name: &str, len: usize) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD.encode(vec![7u8; len]);
        json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": name, "contentType": "application/pdf",
               "contentBytes": b64, "isInline": false})
    }

    #[test]
    fn small_attachments_ride_in_the_draft_until_the_budget_and_large_ones_are_uploaded() {
        let atts = [attachment("a", 1_500_000), attachment("b", 1_500_000), attachment("c", 5_000_000)];
        let payload = json!({"message": {"subject": "s", "attachments": atts}, "saveToSentItems": true});
        assert!(needs_upload(&payload));
        let p = plan(&payload).expect("plan");
        assert_eq!(p.draft["attachments"].as_array().map(Vec::len), Some(1));
        assert_eq!(p.draft["subject"], "s");
        assert_eq!(p.posts.len(), 1);
        assert_eq!(p.uploads.len(), 1);
        let (item, bytes) = &p.uploads[0];
        assert_eq!(
            (item["name"].as_str(), item["size"].as_u64(), bytes.len()),
            (Some("c"), Some(5_000_000), 5_000_000)
        );
        assert_eq!(item["contentType"], "application/pdf");
    }

    #[test]
    fn only_a_send_that_may_have_gone_through_keeps_its_draft() {
        let answered = |status| Attempt { status: Some(status), ..Attempt::default() };
        let transport = |t| Attempt { transport: Some(t), ..Attempt::default() };
        for status in [500, 502, 504] {
            assert!(may_have_sent(&answered(status)), "{status}");
        }
        assert!(may_have_sent(&transport(Transport::MaybeSent("reset".into()))));
        for status in [400, 403, 404, 429, 503] {
            assert!(!may_have_sent(&answered(status)), "{status}");
        }
        assert!(!may_have_sent(&transport(Transport::NotSent("refused".into()))));
    }

    #[test]
    fn a_small_message_stays_on_send_mail() {
        let payload = json!({"message": {"attachments": [attachment("a", 1_000_000)]}});
        assert!(!needs_upload(&payload));
    }
}
