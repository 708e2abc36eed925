//! `POST /v1.0/users/{mailbox}/sendMail`: for apps already written against Graph. Point their Graph base URL at
//! mailgate and keep Graph's request body: the same 202, and Graph's error shape (403 `ErrorAccessDenied` with
//! "Access to OData is disabled." when the allowlist denies).

pub mod error;
pub mod send_as;
pub mod send_mail;

use utoipa_axum::routes;

use crate::auth::Role::MailSend;
use crate::routes::access::Routes;

pub fn routes() -> Routes {
    Routes::new().guarded(&[MailSend], routes!(send_mail::send_mail))
}
