//! One SMTP session (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS and AUTH):
//! commands parsed by smtp-proto, each answered with a code, an enhanced status code and a sentence. A sender is
//! decided by the allowlist at MAIL FROM, before any data is read; a message is stored through accept before `250`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::request::receiver::RequestReceiver;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, MailFrom, RcptTo, Request};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Context;
use super::auth;
use super::conn::{Body, Conn, Stop};
use super::message::{Refused, reconcile};
use super::proxy;
use super::reply::{self, Reply};
use super::store::{self, Submission};
use crate::auth::Caller;
use crate::domain::message::GRAPH_MAX_REQUEST_BYTES;
use crate::domain::{EmailAddress, Mailbox};
use crate::policy::{Access, Snapshot, decide};

/// How long a client may take to send a command (RFC 5321 suggests 5 minutes).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a client may pause within DATA.
const DATA_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one session may last, however busy.
const SESSION_LIMIT: Duration = Duration::from_secs(3600);
/// Commands per session: enough for hundreds of messages on one connection.
const MAX_COMMANDS: u32 = 10_000;
/// Refused commands per session before it is closed.
const MAX_ERRORS: u32 = 20;
/// AUTH attempts per session before it is closed.
const MAX_AUTH_ATTEMPTS: u32 = 5;

/// Serves one connection to its end: in TLS from the start (`implicit_tls`), or in the clear until STARTTLS.
pub async fn run(
    ctx: Arc<Context>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    stop: watch::Receiver<bool>,
) {
    let id = format!("smtp-{}", uuid::Uuid::now_v7());
    let work = async {
        // Behind a load balancer the client is the one its PROXY header names (before TLS, before the greeting).
        let peer = if ctx.settings.proxy_from.iter().any(|net| net.contains(peer.ip())) {
            match proxy::read_header(&mut tcp, peer).await {
                Ok(source) => source,
                Err(refused) => {
                    tracing::warn!(session = %id, %peer, ?refused, "SMTP: no PROXY protocol header from a \
                        MAILGATE_SMTP_PROXY_PROTOCOL_FROM peer; closed");
                    if refused == proxy::Refused::Malformed && !implicit_tls {
                        let line = b"421 4.7.0 Expected a PROXY protocol header; closing\r\n";
                        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.write_all(line)).await;
                    }
                    return;
                }
            }
        } else {
            peer
        };
        if implicit_tls {
            if let Some(tls) = handshake(&ctx, tcp).await {
                Session::new(&ctx, peer, &id, true).serve(Conn::new(tls, stop), true).await;
            }
            return;
        }
        let next = Session::new(&ctx, peer, &id, false).serve(Conn::new(tcp, stop.clone()), true).await;
        if let Next::StartTls(tcp) = next
            && let Some(tls) = handshake(&ctx, tcp).await
        {
            // The session starts over in TLS: nothing said before it counts, and the client says EHLO again.
            Session::new(&ctx, peer, &id, true).serve(Conn::new(tls, stop), false).await;
        }
    };
    if tokio::time::timeout(SESSION_LIMIT, work).await.is_err() {
        tracing::info!(session = %id, %peer, "SMTP session over its time limit: closed");
    }
}

async fn handshake(ctx: &Context, tcp: TcpStream) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let acceptor = ctx.tls.as_ref()?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "SMTP TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

enum Next<S> {
    Done,
    StartTls(S),
}

/// A transaction between MAIL FROM and the end of DATA.
struct Transaction {
    /// The policy snapshot the sender was decided with; the message is decided again with it.
    snapshot: Arc<Snapshot>,
    /// The sender's canonical mailbox.
    mailbox: String,
    /// Lower-cased, each once.
    recipients: Vec<String>,
}

struct Session<'a> {
    ctx: &'a Context,
    peer: SocketAddr,
    id: &'a str,
    tls: bool,
    hello: bool,
    caller: Option<Caller>,
    tx: Option<Transaction>,
    commands: u32,
    errors: u32,
    auth_attempts: u32,
}

impl<'a> Session<'a> {
    fn new(ctx: &'a Context, peer: SocketAddr, id: &'a str, tls: bool) -> Self {
        Self { ctx, peer, id, tls, hello: false, caller: None, tx: None, commands: 0, errors: 0, auth_attempts: 0 }
    }

    fn host(&self) -> &str {
        &self.ctx.settings.hostname
    }

    /// Answers commands until the client quits, the session ends, or STARTTLS hands the connection over.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut self, mut conn: Conn<S>, greet: bool) -> Next<S> {
        if greet {
            conn.raw(&format!("220 {} ESMTP mailgate ready\r\n", self.host()));
        }
        let mut receiver = RequestReceiver::default();
        loop {
            self.commands += 1;
            if self.commands > MAX_COMMANDS {
                return close(conn, Reply::new(421, [4, 7, 0], "Too many commands in one session; reconnect")).await;
            }
            // Between transactions a shutdown ends the wait; within one, the transaction is finished first.
            let idle = self.tx.is_none();
            let request = match conn.command(&mut receiver, COMMAND_TIMEOUT, idle).await {
                Ok(Ok(request)) => request,
                Ok(Err(refused)) => {
                    self.errors += 1;
                    if self.errors > MAX_ERRORS {
                        return close(conn, Reply::new(421, [4, 7, 0], "Too many errors; closing")).await;
                    }
                    conn.reply(&refused);
                    continue;
                }
                Err(Stop::Shutdown) => return close(conn, reply::shutting_down(self.host())).await,
                Err(Stop::TimedOut) => {
                    return close(conn, Reply::new(421, [4, 4, 2], "Timed out waiting for a command; closing")).await;
                }
                Err(Stop::Closed) => return Next::Done,
            };
            let answer = match request {
                Request::Ehlo { host } => {
                    self.reset();
                    self.hello = true;
                    conn.raw(&self.ehlo(&host));
                    continue;
                }
                Request::Helo { host } => {
                    self.reset();
                    self.hello = true;
                    conn.raw(&format!("250 {} Hello {}\r\n", self.host(), printable(&host)));
                    continue;
                }
                Request::StartTls => match self.starttls() {
                    Ok(()) => {
                        conn.reply(&Reply::new(220, [2, 0, 0], "Ready to start TLS"));
                        // Anything pipelined after STARTTLS was sent in the clear: it is dropped (RFC 3207).
                        conn.discard_pending();
                        if conn.flush().await.is_err() {
                            return Next::Done;
                        }
                        return Next::StartTls(conn.io);
                    }
                    Err(refused) => refused,
                },
                Request::Auth { mechanism, initial_response } => {
                    match self.auth(&mut conn, mechanism, initial_response).await {
                        Ok(answer) => answer,
                        Err(_) => return Next::Done,
                    }
                }
                Request::Mail { from } => self.mail(from).await,
                Request::Rcpt { to } => self.rcpt(to),
                Request::Data => match self.data(&mut conn).await {
                    Ok(answer) => answer,
                    Err(Stop::TimedOut) => {
                        return close(conn, Reply::new(421, [4, 4, 2], "Timed out waiting for data; closing")).await;
                    }
                    Err(_) => return Next::Done,
                },
                Request::Rset => {
                    self.reset();
                    reply::ok("Reset")
                }
                Request::Noop { .. } => reply::ok("OK"),
                Request::Quit => return close(conn, Reply::new(221, [2, 0, 0], "Bye")).await,
                Request::Vrfy { .. } => Reply::new(252, [2, 5, 2], "Cannot verify users; send and see"),
                Request::Help { .. } => Reply::new(214, [2, 0, 0], "See docs/smtp.md of mailgate"),
                other => reply::not_implemented(other.name()),
            };
            if answer.closes() {
                return close(conn, answer).await;
            }
            conn.reply(&answer);
            // After a transaction, a shutdown closes the session rather than wait for the next.
            if self.tx.is_none() && conn.stopping() {
                return close(conn, reply::shutting_down(self.host())).await;
            }
        }
    }

    fn reset(&mut self) {
        self.tx = None;
    }

    /// The greeting line and the extensions, one per line.
    fn ehlo(&self, client: &str) -> String {
        let mut lines = vec![
            format!("{} Hello {}", self.host(), printable(client)),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.ctx.max_size),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if !self.tls && self.ctx.tls.is_some() {
            lines.push("STARTTLS".to_owned());
        }
        if self.tls || self.ctx.settings.allow_plaintext_auth {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        let last = lines.len() - 1;
        lines.iter().enumerate().map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' })).collect()
    }

    fn starttls(&self) -> Result<(), Reply> {
        if self.tls {
            return Err(reply::bad_sequence("TLS is already on"));
        }
        if self.ctx.tls.is_none() {
            return Err(Reply::new(454, [4, 7, 0], "TLS not available"));
        }
        if !self.hello {
            return Err(reply::bad_sequence("Send EHLO first"));
        }
        Ok(())
    }

    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        mechanism: u64,
        initial: String,
    ) -> Result<Reply, Stop> {
        if !self.hello {
            return Ok(reply::bad_sequence("Send EHLO first"));
        }
        if self.caller.is_some() {
            return Ok(reply::bad_sequence("Already authenticated"));
        }
        if self.tx.is_some() {
            return Ok(reply::bad_sequence("AUTH is not allowed during a mail transaction"));
        }
        if !self.tls && !self.ctx.settings.allow_plaintext_auth {
            return Ok(reply::starttls_first());
        }
        if mechanism != AUTH_PLAIN && mechanism != AUTH_LOGIN {
            return Ok(Reply::new(504, [5, 5, 4], "Unrecognized authentication type; use PLAIN or LOGIN"));
        }
        let state = &self.ctx.state;
        if let Err(retry_after) = state.auth_failures.check(Some(self.peer.ip())) {
            state.metrics.auth_throttled();
            return Ok(Reply::new(
                454,
                [4, 7, 0],
                format!(
                    "Too many failed authentications from this address; try again in {} s",
                    retry_after.as_secs().max(1)
                ),
            ));
        }
        self.auth_attempts += 1;
        if self.auth_attempts > MAX_AUTH_ATTEMPTS {
            return Ok(Reply::new(421, [4, 7, 0], "Too many authentication attempts; closing"));
        }
        let credentials = if mechanism == AUTH_PLAIN {
            let answer = match initial.is_empty() {
                true => match challenge(conn, "334 \r\n").await? {
                    Some(line) => line,
                    None => return Ok(too_long()),
                },
                false => initial,
            };
            auth::decode(&answer).and_then(|m| auth::plain(&m))
        } else {
            let user = match initial.is_empty() {
                true => match challenge(conn, auth::USERNAME_PROMPT).await? {
                    Some(line) => line,
                    None => return Ok(too_long()),
                },
                false => initial,
            };
            match auth::decode(&user) {
                Err(refused) => Err(refused),
                Ok(user) => match challenge(conn, auth::PASSWORD_PROMPT).await? {
                    None => return Ok(too_long()),
                    Some(password) => auth::decode(&password).map(|p| {
                        (String::from_utf8_lossy(&user).into_owned(), String::from_utf8_lossy(&p).into_owned())
                    }),
                },
            }
        };
        let (user, password) = match credentials {
            Ok(pair) => pair,
            Err(refused) => return Ok(refused),
        };
        Ok(match auth::verify(state, self.peer.ip(), &user, &password).await {
            Ok(caller) => {
                tracing::info!(session = self.id, app = %caller.app_name, peer = %self.peer, "SMTP AUTH");
                self.caller = Some(caller);
                Reply::new(235, [2, 7, 0], "Authentication succeeded")
            }
            Err(refused) => refused,
        })
    }

    async fn mail(&mut self, from: MailFrom<String>) -> Reply {
        if !self.hello {
            return reply::bad_sequence("Send EHLO first");
        }
        let Some(caller) = &self.caller else {
            return reply::auth_required();
        };
        if self.tx.is_some() {
            return reply::bad_sequence("Nested MAIL command");
        }
        if self.ctx.state.draining.load(std::sync::atomic::Ordering::SeqCst) {
            return reply::shutting_down(self.host());
        }
        let name = from.address.trim();
        if name.is_empty() {
            return reply::not_allowed(
                "The null sender <> is not accepted: mailgate relays submissions, it sends no bounces",
            );
        }
        if from.size > self.ctx.max_size {
            return reply::too_big(self.ctx.max_size);
        }
        let mailbox = match Mailbox::parse(name) {
            Ok(mailbox) => mailbox,
            Err(e) => return Reply::new(501, [5, 1, 7], format!("Sender {e}")),
        };
        let state = &self.ctx.state;
        let snapshot = match state.policy.get_for_app(&state.pool, caller.app_id).await {
            Ok(snapshot) => snapshot,
            Err(e) => {
                tracing::warn!(error = %e, "SMTP: the policy snapshot could not be loaded");
                return reply::local_error();
            }
        };
        // Decided at once, as `from` on HTTP: a denied sender is refused before any data is read.
        let decision = decide(&snapshot, caller.app_id, &caller.app_name, &mailbox.key());
        if decision.access != Access::Granted {
            // Recorded through accept as HTTP records a denial: the message row (`denied`) and its audit event.
            let denial = Submission {
                mailbox: &decision.mailbox,
                subject: String::new(),
                recipients: 0,
                mime: None,
                source: self.peer.ip().to_string(),
                session_id: self.id,
            };
            return match store::submit(state, &snapshot, caller, denial).await {
                Err(refused) => refused,
                // The allowlist changed its mind between the two looks (a cooldown ending): try again.
                Ok(_) => Reply::new(451, [4, 7, 1], "The allowlist's decision changed; try again"),
            };
        }
        let answer = Reply::new(250, [2, 1, 0], format!("Sender <{}> ok", decision.mailbox));
        self.tx = Some(Transaction { snapshot, mailbox: decision.mailbox, recipients: Vec::new() });
        answer
    }

    fn rcpt(&mut self, to: RcptTo<String>) -> Reply {
        let max = self.ctx.state.settings.limits.max_recipients;
        let Some(tx) = &mut self.tx else {
            return reply::bad_sequence("Need MAIL before RCPT");
        };
        let address = match EmailAddress::parse(to.address.trim()) {
            Ok(address) => address.as_str().to_owned(),
            Err(e) => return Reply::new(501, [5, 1, 3], format!("Recipient {e}")),
        };
        if !tx.recipients.contains(&address) {
            if tx.recipients.len() >= max {
                return Reply::new(452, [4, 5, 3], format!("Too many recipients: at most {max} per message"));
            }
            tx.recipients.push(address.clone());
        }
        Reply::new(250, [2, 1, 5], format!("Recipient <{address}> ok"))
    }

    async fn data<S: AsyncRead + AsyncWrite + Unpin>(&mut self, conn: &mut Conn<S>) -> Result<Reply, Stop> {
        match &self.tx {
            None => return Ok(reply::bad_sequence("Need MAIL before DATA")),
            Some(tx) if tx.recipients.is_empty() => return Ok(Reply::new(554, [5, 5, 1], "No valid recipients")),
            Some(_) => {}
        }
        conn.reply(&Reply::new(354, [2, 0, 0], "Start mail input; end with <CRLF>.<CRLF>"));
        let body = conn.data(self.ctx.max_size, DATA_TIMEOUT).await?;
        let Some(tx) = self.tx.take() else {
            return Ok(reply::bad_sequence("Need MAIL before DATA"));
        };
        let raw = match body {
            Body::TooBig => return Ok(reply::too_big(self.ctx.max_size)),
            Body::Message(raw) => raw,
        };
        let canonical = |name: &str| tx.snapshot.directory.identify(name).canonical;
        let relayed = match reconcile(&raw, &tx.mailbox, canonical, &tx.recipients) {
            Ok(relayed) => relayed,
            Err(Refused::Unreadable) => {
                return Ok(Reply::new(554, [5, 6, 0], "The message is not readable as RFC 5322"));
            }
            Err(Refused::OtherSender { header, envelope }) => {
                return Ok(reply::not_allowed(format!(
                    "The header From <{header}> is not the envelope sender's mailbox <{envelope}>"
                )));
            }
        };
        drop(raw);
        if relayed.mime.len().div_ceil(3) * 4 > GRAPH_MAX_REQUEST_BYTES {
            return Ok(reply::too_big(self.ctx.max_size));
        }
        let Some(caller) = &self.caller else {
            return Ok(reply::auth_required());
        };
        let submission = Submission {
            mailbox: &tx.mailbox,
            subject: relayed.subject,
            recipients: tx.recipients.len(),
            mime: Some(relayed.mime),
            source: self.peer.ip().to_string(),
            session_id: self.id,
        };
        Ok(match store::submit(&self.ctx.state, &tx.snapshot, caller, submission).await {
            Ok(id) => {
                tracing::info!(session = self.id, %id, app = %caller.app_name, mailbox = %tx.mailbox, "SMTP message queued");
                Reply::new(250, [2, 0, 0], format!("Ok: queued as {id}"))
            }
            Err(refused) => refused,
        })
    }
}

/// Sends a SASL challenge and reads the answer; None when the answer is too long.
async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    prompt: &str,
) -> Result<Option<String>, Stop> {
    conn.raw(prompt);
    conn.line(COMMAND_TIMEOUT).await
}

fn too_long() -> Reply {
    Reply::new(500, [5, 5, 6], "Authentication exchange line is too long")
}

/// Sends the last reply and ends the session.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(mut conn: Conn<S>, last: Reply) -> Next<S> {
    conn.reply(&last);
    let _ = conn.flush().await;
    Next::Done
}

/// A client's own name, as it may be repeated in a reply: printable ASCII only, at most 255 characters.
fn printable(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic()).take(255).collect()
}
