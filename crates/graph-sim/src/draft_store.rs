//! Drafts and their upload sessions, as Exchange keeps them between `POST .../messages` and `.../send`.
//! Uploaded bytes are hashed as they arrive rather than kept, so a 150 MB upload costs no memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::props;
use super::response::GraphError;
use super::state::mailbox_key;
use super::types::{AttachmentRecord, ChunkRecord, DraftInfo, DraftRecord, DraftStep};

struct Draft {
    mailbox: String,
    client_request_id: Option<String>,
    message: Value,
    /// Attachment JSON as the assembled message shows it, with its record.
    attachments: Vec<(Value, AttachmentRecord)>,
    body_bytes: usize,
}

/// An attachment being uploaded through a session.
pub struct Session {
    pub draft_id: String,
    pub mailbox: String,
    secret: String,
    item: Value,
    name: String,
    size: u64,
    content_type: Option<String>,
    next: u64,
    hasher: Sha256,
    chunks: Vec<ChunkRecord>,
}

/// Where an upload stands after an accepted chunk.
pub enum Progress {
    /// More is expected from this offset.
    Next(u64),
    Complete,
}

#[derive(Default)]
struct Inner {
    drafts: HashMap<String, Draft>,
    sessions: HashMap<String, Session>,
    steps: Vec<DraftStep>,
}

#[derive(Default)]
pub struct DraftStore {
    inner: Mutex<Inner>,
}

fn not_found() -> GraphError {
    GraphError::new(StatusCode::NOT_FOUND, "ErrorItemNotFound", "The specified object was not found in the store.")
}

fn new_id() -> String {
    format!("AAMk{}", uuid::Uuid::new_v4().simple())
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `fileAttachment` posted in a draft or on its own: decoded size and hash, `contentBytes` required.
fn file_attachment(a: &Value, via: &str) -> Result<AttachmentRecord, GraphError> {
    let bad = |m: &str| GraphError::bad_request("ErrorInvalidRequest", m);
    let name =
        a.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).ok_or_else(|| bad("name is required"))?;
    let b64 = a.get("contentBytes").and_then(Value::as_str).ok_or_else(|| bad("contentBytes is required"))?;
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| bad("contentBytes is not valid base64"))?;
    Ok(AttachmentRecord {
        name: name.to_owned(),
        size: bytes.len() as u64,
        content_type: a.get("contentType").and_then(Value::as_str).map(str::to_owned),
        via: via.to_owned(),
        sha256: hex(&Sha256::digest(&bytes)),
        chunks: Vec::new(),
    })
}

impl DraftStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    pub fn log(&self, step: DraftStep) {
        self.lock().steps.push(step);
    }

    pub fn steps(&self) -> Vec<DraftStep> {
        self.lock().steps.clone()
    }

    /// Store a draft; attachments in the message are kept as attachments of the draft.
    pub fn create(
        &self,
        mailbox: &str,
        client_request_id: Option<String>,
        mut message: Value,
        body_bytes: usize,
    ) -> Result<String, GraphError> {
        let listed = message.as_object_mut().and_then(|m| m.remove("attachments"));
        let mut attachments = Vec::new();
        for a in listed.as_ref().and_then(Value::as_array).into_iter().flatten() {
            attachments.push((a.clone(), file_attachment(a, "draft")?));
        }
        let id = new_id();
        let draft = Draft { mailbox: mailbox_key(mailbox), client_request_id, message, attachments, body_bytes };
        self.lock().drafts.insert(id.clone(), draft);
        Ok(id)
    }

    fn draft<'a>(inner: &'a mut Inner, mailbox: &str, id: &str) -> Result<&'a mut Draft, GraphError> {
        inner.drafts.get_mut(id).filter(|d| d.mailbox == mailbox_key(mailbox)).ok_or_else(not_found)
    }

    /// `POST .../messages/{id}/attachments` with a `fileAttachment`.
    pub fn attach(&self, mailbox: &str, id: &str, attachment: Value, bytes: usize) -> Result<String, GraphError> {
        let record = file_attachment(&attachment, "post")?;
        let mut inner = self.lock();
        let draft = Self::draft(&mut inner, mailbox, id)?;
        draft.body_bytes += bytes;
        draft.attachments.push((attachment, record));
        Ok(new_id())
    }

    /// `createUploadSession`: `item` is the checked `AttachmentItem`; returns the session id and its secret.
    pub fn open_session(
        &self,
        mailbox: &str,
        id: &str,
        item: &serde_json::Map<String, Value>,
        size: u64,
    ) -> Result<(String, String), GraphError> {
        let mut inner = self.lock();
        Self::draft(&mut inner, mailbox, id)?;
        let session_id = uuid::Uuid::new_v4().simple().to_string();
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let session = Session {
            draft_id: id.to_owned(),
            mailbox: mailbox.to_owned(),
            secret: secret.clone(),
            name: props::get(item, "name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            content_type: props::get(item, "contentType").and_then(Value::as_str).map(str::to_owned),
            item: Value::Object(item.clone()),
            size,
            next: 0,
            hasher: Sha256::new(),
            chunks: Vec::new(),
        };
        inner.sessions.insert(session_id.clone(), session);
        Ok((session_id, secret))
    }

    /// The mailbox a session uploads to (for its faults), when the session exists.
    pub fn session_mailbox(&self, session_id: &str) -> Option<String> {
        self.lock().sessions.get(session_id).map(|s| s.mailbox.clone())
    }

    /// Check a chunk against the session (secret, total, contiguity) and take it.
    pub fn upload(
        &self,
        session_id: &str,
        secret: Option<&str>,
        (start, end, total): (u64, u64, u64),
        bytes: &[u8],
    ) -> Result<Progress, GraphError> {
        let mut inner = self.lock();
        let session = inner.sessions.get_mut(session_id).ok_or_else(not_found)?;
        if secret != Some(session.secret.as_str()) {
            return Err(GraphError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Invalid upload token.",
            ));
        }
        let expected = vec![format!("{}-", session.next)];
        if total != session.size {
            let m = format!("The total {total} does not match the session's size {}.", session.size);
            return Err(GraphError::bad_request("InvalidContentRange", m).with("nextExpectedRanges", json!(expected)));
        }
        if start != session.next {
            let m = format!("The range starts at {start}; expected {}.", session.next);
            return Err(GraphError::new(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange", m)
                .with("nextExpectedRanges", json!(expected)));
        }
        if bytes.len() as u64 != end - start + 1 {
            let m = format!("The body holds {} bytes; the range names {}.", bytes.len(), end - start + 1);
            return Err(GraphError::bad_request("InvalidContentRange", m).with("nextExpectedRanges", json!(expected)));
        }
        session.hasher.update(bytes);
        session.chunks.push(ChunkRecord { start, end });
        session.next = end + 1;
        if session.next < session.size {
            return Ok(Progress::Next(session.next));
        }
        let session = inner.sessions.remove(session_id).expect("present");
        let mut shown = session.item.clone();
        shown["@odata.type"] = json!("#microsoft.graph.fileAttachment");
        if let Some(o) = shown.as_object_mut() {
            o.remove("attachmentType");
        }
        let record = AttachmentRecord {
            name: session.name,
            size: session.size,
            content_type: session.content_type,
            via: "session".to_owned(),
            sha256: hex(&session.hasher.finalize()),
            chunks: session.chunks,
        };
        // A draft removed meanwhile (sent, or a reset) just loses the attachment, as in Exchange.
        if let Some(draft) = inner.drafts.get_mut(&session.draft_id) {
            draft.body_bytes += session.size as usize;
            draft.attachments.push((shown, record));
        }
        Ok(Progress::Complete)
    }

    /// `DELETE .../messages/{id}`: the draft, its attachments and its unfinished upload sessions are gone.
    pub fn delete(&self, mailbox: &str, id: &str) -> Result<(), GraphError> {
        let mut inner = self.lock();
        Self::draft(&mut inner, mailbox, id)?;
        inner.drafts.remove(id);
        inner.sessions.retain(|_, s| s.draft_id != id);
        Ok(())
    }

    /// The drafts in store, by mailbox, then id.
    pub fn drafts(&self) -> Vec<DraftInfo> {
        let inner = self.lock();
        let mut all: Vec<DraftInfo> = inner
            .drafts
            .iter()
            .map(|(id, d)| DraftInfo {
                draft_id: id.clone(),
                mailbox: d.mailbox.clone(),
                client_request_id: d.client_request_id.clone(),
                attachments: d.attachments.len(),
            })
            .collect();
        all.sort_by(|a, b| (&a.mailbox, &a.draft_id).cmp(&(&b.mailbox, &b.draft_id)));
        all
    }

    /// `send`: take the draft away; returns the assembled `{"message": ...}`, its record and its bytes.
    /// Unfinished upload sessions are dropped with it: their attachments never existed.
    pub fn send(&self, mailbox: &str, id: &str) -> Result<(Value, DraftRecord, usize), GraphError> {
        let mut inner = self.lock();
        Self::draft(&mut inner, mailbox, id)?;
        let draft = inner.drafts.remove(id).expect("present");
        inner.sessions.retain(|_, s| s.draft_id != id);
        let mut message = draft.message;
        let (shown, records): (Vec<Value>, Vec<AttachmentRecord>) = draft.attachments.into_iter().unzip();
        if !shown.is_empty() {
            message["attachments"] = Value::Array(shown);
        }
        let record = DraftRecord {
            draft_id: id.to_owned(),
            attachment_bytes: records.iter().map(|r| r.size).sum(),
            attachments: records,
        };
        Ok((json!({ "message": message }), record, draft.body_bytes))
    }
}
