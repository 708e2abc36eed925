//! The one place SMTP calls the accept service, the same one both HTTP doors use: a message is decided, audited,
//! counted against its app's quotas and committed to the outbox before `250` is answered. What accept refuses
//! becomes the SMTP reply that says the same.

use serde_json::json;

use super::reply::{self, Reply};
use crate::accept::{Accepted, Refusal, accept};
use crate::auth::Caller;
use crate::domain::Mailbox;
use crate::domain::channel::{Channel, Origin};
use crate::domain::message::NewMessage;
use crate::policy::Snapshot;
use crate::state::AppState;

/// What SMTP hands to accept: the sending mailbox (canonical), and for a message its MIME and what the row shows.
pub struct Submission<'a> {
    pub mailbox: &'a str,
    pub subject: String,
    pub recipients: usize,
    /// The reconciled MIME text, delivered through sendMail's MIME form; None to record a denial at MAIL FROM.
    pub mime: Option<Vec<u8>>,
    pub source: String,
    pub session_id: &'a str,
}

/// Stores the submission; `Ok(id)` once it is durably queued.
pub async fn submit(
    state: &AppState,
    snapshot: &Snapshot,
    caller: &Caller,
    submission: Submission<'_>,
) -> Result<uuid::Uuid, Reply> {
    let mailbox = Mailbox::parse(submission.mailbox).map_err(|e| reply::not_allowed(format!("Sender {e}")))?;
    let graph_body = match &submission.mime {
        // The form delivery sends as Graph's MIME sendMail (`Content-Type: text/plain`, the MIME in base64).
        Some(mime) => json!({ "mime": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mime) }),
        None => serde_json::Value::Null,
    };
    let message = NewMessage {
        mailbox,
        subject: submission.subject,
        recipients: submission.recipients,
        graph_body,
        origin: Origin { channel: Channel::Smtp, source_address: Some(submission.source) },
    };
    match accept(&state.accepting(), snapshot, caller, message, None, submission.session_id, None).await {
        Ok(Accepted::Queued { message, .. }) => Ok(message.id),
        Ok(Accepted::Replay(_)) => Err(reply::local_error()),
        Err(refusal) => Err(refused(&refusal)),
    }
}

/// The SMTP reply that says what an HTTP caller would be told.
pub fn refused(refusal: &Refusal) -> Reply {
    match refusal {
        Refusal::Denied { decision, .. } => reply::not_allowed(decision.reason.clone()),
        Refusal::OverQuota { quota: "recipients_per_day", detail, retry_after } => {
            Reply::new(452, [4, 5, 3], format!("Over quota: {detail}; retry after {retry_after} s"))
        }
        Refusal::OverQuota { detail, retry_after, .. } => {
            Reply::new(451, [4, 7, 1], format!("Over quota: {detail}; retry after {retry_after} s"))
        }
        Refusal::TooManyRefusals { limit, retry_after } => Reply::new(
            451,
            [4, 7, 1],
            format!("This app was refused more than {limit} times this minute; retry after {retry_after} s"),
        ),
        Refusal::Store(e) => {
            tracing::warn!(error = %e, "SMTP: the message could not be stored");
            reply::local_error()
        }
        Refusal::Internal(what) => {
            tracing::error!(what, "SMTP: could not accept a message");
            reply::local_error()
        }
    }
}
