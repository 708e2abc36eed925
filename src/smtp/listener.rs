//! The SMTP listeners: one tokio task per session, at most `MAILGATE_SMTP_MAX_CONNECTIONS` at once (more are told
//! `421 4.7.0` and closed). On shutdown they stop accepting; sessions finish the transaction they are in, then
//! answer `421` and close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::{Context, session, tls};
use crate::config::SmtpSettings;
use crate::state::AppState;

/// The running listeners, for the drain at shutdown.
pub struct Listeners {
    sessions: Arc<Semaphore>,
    max: u32,
    /// Where each listens (`smtp`, `smtps`), for the start-up line.
    pub bound: Vec<(&'static str, SocketAddr)>,
}

/// Binds the listeners the settings name and starts accepting; `stop` turning true stops them.
pub async fn start(state: AppState, settings: SmtpSettings, stop: watch::Receiver<bool>) -> anyhow::Result<Listeners> {
    let tls = match settings.tls.as_ref().map(tls::acceptor).transpose()? {
        Some((acceptor, certificates)) => {
            tokio::spawn(certificates.watch(stop.clone()));
            Some(acceptor)
        }
        None => None,
    };
    if settings.allow_plaintext_auth {
        for addr in [settings.listen, settings.tls_listen].into_iter().flatten() {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH is on for an SMTP listener that is not \
                    loopback: API keys may cross the network in the clear");
            }
        }
    }
    let max = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    let sessions = Arc::new(Semaphore::new(max as usize));
    let max_size = super::max_size(state.settings.limits.max_message_bytes);
    let listen = settings.listen;
    let tls_listen = settings.tls_listen;
    let ctx = Arc::new(Context { state, settings, tls, max_size });
    let mut bound = Vec::new();
    for (name, addr, implicit_tls) in [("smtp", listen, false), ("smtps", tls_listen, true)] {
        let Some(addr) = addr else { continue };
        let setting = if implicit_tls { "MAILGATE_SMTPS_LISTEN" } else { "MAILGATE_SMTP_LISTEN" };
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {setting} {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(addr = %local, implicit_tls, "SMTP listening");
        bound.push((name, local));
        tokio::spawn(accept(listener, ctx.clone(), sessions.clone(), implicit_tls, stop.clone()));
    }
    Ok(Listeners { sessions, max, bound })
}

impl Listeners {
    /// Waits up to `grace` for every session to end (they close after their current transaction).
    pub async fn drain(&self, grace: Duration) {
        if tokio::time::timeout(grace, self.sessions.acquire_many(self.max)).await.is_err() {
            tracing::warn!("SMTP sessions still open at the end of the shutdown grace period");
        }
    }
}

async fn accept(
    listener: TcpListener,
    ctx: Arc<Context>,
    sessions: Arc<Semaphore>,
    implicit_tls: bool,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            () = super::stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        match sessions.clone().try_acquire_owned() {
            Ok(permit) => {
                let (ctx, stop) = (ctx.clone(), stop.clone());
                tokio::spawn(async move {
                    session::run(ctx, tcp, peer, implicit_tls, stop).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(overloaded(tcp, implicit_tls));
            }
        }
    }
}

/// One session too many: told so in the clear (an implicit-TLS client cannot read it, and is simply closed).
async fn overloaded(mut tcp: TcpStream, implicit_tls: bool) {
    if !implicit_tls {
        let line = b"421 4.7.0 Too many connections; try again later\r\n";
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(line)).await;
    }
    let _ = tcp.shutdown().await;
}
