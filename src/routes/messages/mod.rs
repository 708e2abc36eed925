//! `/v1/messages`: send a message, and read what became of it.

pub mod get;
pub mod idempotent;
pub mod post;
pub mod view;
pub mod wait;

use utoipa_axum::routes;

use crate::auth::Role::{AuditRead, MailSend};
use crate::routes::access::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .guarded(&[MailSend], routes!(post::send))
        // Senders see their own messages; auditors see every message.
        .guarded(&[MailSend, AuditRead], routes!(get::status))
}
