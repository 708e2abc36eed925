//! SMTP ingress: printers, scanners and legacy apps submit over SMTP with AUTH (app name + API key), under the same
//! allowlist, accept path, outbox and audit as HTTP ([docs/smtp.md](../../docs/smtp.md)). `mailgate serve` starts
//! the listeners when `MAILGATE_SMTP_LISTEN` or `MAILGATE_SMTPS_LISTEN` is set.

mod auth;
mod conn;
mod listener;
mod message;
mod proxy;
mod reply;
mod session;
mod store;
mod tls;

use tokio_rustls::TlsAcceptor;

pub use self::listener::{Listeners, start};
use crate::config::SmtpSettings;
use crate::domain::message::GRAPH_MAX_REQUEST_BYTES;
use crate::state::AppState;

/// What every session shares.
pub struct Context {
    pub state: AppState,
    pub settings: SmtpSettings,
    /// None when no certificate is set (plaintext AUTH allowed): STARTTLS is then not offered.
    pub tls: Option<TlsAcceptor>,
    /// The largest message taken, as EHLO's SIZE says.
    pub max_size: usize,
}

/// Room kept in Graph's request for what reconciling the headers adds (a From, Bcc, the original To and Cc).
const HEADER_ROOM: usize = 64 * 1024;

/// The largest message that can be delivered: a message travels as base64 MIME in one sendMail request, so it
/// must fit Graph's 4 MB in base64, and the service's own limit.
pub fn max_size(max_message_bytes: usize) -> usize {
    (GRAPH_MAX_REQUEST_BYTES / 4 * 3 - HEADER_ROOM).min(max_message_bytes)
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard wait_for returns is dropped here, never held across an await.
    let _ = stop.wait_for(|s| *s).await.map(drop);
}
