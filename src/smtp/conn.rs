//! A session's connection: bytes in, with bare LF line endings read as CRLF (devices send them), and replies out,
//! written when the client has nothing more pipelined. Every read has a time limit and gives way to shutdown
//! when the session is between transactions.

use std::time::Duration;

use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::reply::Reply;

/// The longest line taken outside DATA (a command or an AUTH response): smtp-proto's own limit.
pub const MAX_LINE: usize = smtp_proto::request::receiver::MAX_LINE_LENGTH;
/// Bytes read at a time.
const CHUNK: usize = 16 * 1024;

/// Why reading stopped.
#[derive(Debug)]
pub enum Stop {
    /// The client closed the connection, or it failed.
    Closed,
    /// Nothing arrived within the time allowed.
    TimedOut,
    /// The process is shutting down and the session is between transactions.
    Shutdown,
}

/// What DATA delivered.
pub enum Body {
    Message(Vec<u8>),
    /// Longer than the limit: read to its end and dropped.
    TooBig,
}

pub struct Conn<S> {
    pub io: S,
    input: Vec<u8>,
    /// Where unread input starts.
    pos: usize,
    output: Vec<u8>,
    /// The last byte read was CR (a CRLF split across reads is not a bare LF).
    after_cr: bool,
    /// The rest of a refused line is to be dropped, so one bad line gets one reply.
    skip_line: bool,
    stop: watch::Receiver<bool>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(io: S, stop: watch::Receiver<bool>) -> Self {
        Self { io, input: Vec::new(), pos: 0, output: Vec::new(), after_cr: false, skip_line: false, stop }
    }

    pub fn reply(&mut self, reply: &Reply) {
        reply.write(&mut self.output);
    }

    /// Queues raw reply lines (EHLO's list, a SASL challenge).
    pub fn raw(&mut self, text: &str) {
        self.output.extend_from_slice(text.as_bytes());
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.output.is_empty() {
            self.io.write_all(&self.output).await?;
            self.output.clear();
        }
        self.io.flush().await
    }

    /// Whether the process is shutting down.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Whether the client has sent more than has been read (pipelined commands).
    pub fn has_pending(&self) -> bool {
        self.pos < self.input.len()
    }

    /// Drops whatever the client sent ahead: after STARTTLS nothing sent in the clear may be acted on (RFC 3207).
    pub fn discard_pending(&mut self) {
        self.input.clear();
        self.pos = 0;
    }

    /// Reads more input, flushing the replies first: a client that pipelines gets its replies together.
    /// `interruptible`: shutdown ends the wait.
    async fn fill(&mut self, limit: Duration, interruptible: bool) -> Result<(), Stop> {
        self.flush().await.map_err(|_| Stop::Closed)?;
        if self.pos > 0 && self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        }
        let mut chunk = vec![0u8; CHUNK];
        let mut stop = self.stop.clone();
        let read = tokio::select! {
            r = tokio::time::timeout(limit, self.io.read(&mut chunk)) => r,
            () = super::stopped(&mut stop), if interruptible => return Err(Stop::Shutdown),
        };
        let n = match read {
            Err(_) => return Err(Stop::TimedOut),
            Ok(Err(_) | Ok(0)) => return Err(Stop::Closed),
            Ok(Ok(n)) => n,
        };
        for &b in &chunk[..n] {
            if b == b'\n' && !self.after_cr {
                self.input.push(b'\r');
            }
            self.input.push(b);
            self.after_cr = b == b'\r';
        }
        Ok(())
    }

    /// The next command, parsed by smtp-proto; `Err(reply)` for one it refused (the line is consumed).
    pub async fn command(
        &mut self,
        receiver: &mut RequestReceiver,
        limit: Duration,
        interruptible: bool,
    ) -> Result<Result<Request<String>, Reply>, Stop> {
        loop {
            if self.skip_line {
                match self.input[self.pos..].iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        self.pos += end + 1;
                        self.skip_line = false;
                    }
                    None => self.pos = self.input.len(),
                }
            }
            if self.has_pending() && !self.skip_line {
                let mut bytes = self.input[self.pos..].iter();
                let parsed = receiver.ingest(&mut bytes).map(Request::into_owned);
                let left = bytes.as_slice().len();
                self.pos = self.input.len() - left;
                match parsed {
                    Ok(request) => return Ok(Ok(request)),
                    Err(ProtoError::NeedsMoreData { .. }) => {}
                    Err(e) => {
                        // Some refusals stop short of the line's end; what is left of it is no command.
                        self.skip_line = self.pos == 0 || self.input[self.pos - 1] != b'\n';
                        return Ok(Err(refused(e)));
                    }
                }
            }
            self.fill(limit, interruptible).await?;
        }
    }

    /// One line (an AUTH response), without its CRLF; None when it is longer than `MAX_LINE`.
    pub async fn line(&mut self, limit: Duration) -> Result<Option<String>, Stop> {
        loop {
            let pending = &self.input[self.pos..];
            if let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&pending[..end]).trim_end_matches('\r').to_owned();
                self.pos += end + 1;
                return Ok((end <= MAX_LINE).then_some(line));
            }
            self.fill(limit, false).await?;
        }
    }

    /// The message after `354`, up to `<CRLF>.<CRLF>`, its dot-stuffing undone by smtp-proto. One over `max`
    /// bytes is read to its end, not kept.
    pub async fn data(&mut self, max: usize, limit: Duration) -> Result<Body, Stop> {
        let mut receiver = DataReceiver::new();
        let mut body = Vec::new();
        // As if the command's CRLF came first, so a dot on the message's first line is read as at a line start.
        let primed = receiver.ingest(&mut b"\r\n".iter(), &mut body);
        debug_assert!(!primed);
        let mut too_big = false;
        loop {
            if self.skip_line {
                match self.input[self.pos..].iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        self.pos += end + 1;
                        self.skip_line = false;
                    }
                    None => self.pos = self.input.len(),
                }
            }
            if self.has_pending() && !self.skip_line {
                let mut bytes = self.input[self.pos..].iter();
                let done = receiver.ingest(&mut bytes, &mut body);
                self.pos = self.input.len() - bytes.as_slice().len();
                if body.len() > max + 2 {
                    too_big = true;
                    body.clear();
                }
                if done {
                    if too_big {
                        return Ok(Body::TooBig);
                    }
                    body.drain(..2.min(body.len()));
                    return Ok(Body::Message(body));
                }
            }
            self.fill(limit, false).await?;
        }
    }
}

/// The answer to a line smtp-proto refused.
fn refused(e: ProtoError) -> Reply {
    match e {
        ProtoError::UnknownCommand => Reply::new(500, [5, 5, 1], "Command not recognized"),
        ProtoError::ResponseTooLong => Reply::new(500, [5, 5, 2], "Line too long"),
        ProtoError::InvalidSenderAddress => Reply::new(501, [5, 1, 7], "Bad sender address syntax"),
        ProtoError::InvalidRecipientAddress => Reply::new(501, [5, 1, 3], "Bad recipient address syntax"),
        ProtoError::SyntaxError { syntax } => Reply::new(501, [5, 5, 2], format!("Syntax: {syntax}")),
        ProtoError::InvalidParameter { param } => Reply::new(501, [5, 5, 4], format!("Invalid parameter {param}")),
        ProtoError::UnsupportedParameter { param } => {
            Reply::new(504, [5, 5, 4], format!("Unsupported parameter {param}"))
        }
        ProtoError::NeedsMoreData { .. } | ProtoError::InvalidResponse { .. } => {
            Reply::new(500, [5, 5, 2], "Command not understood")
        }
    }
}
