//! The Graph `sendMail` call, and what came back, before any decision about it.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url, header};
use serde_json::Value;
use uuid::Uuid;

#[derive(Clone)]
pub struct GraphClient {
    pub(super) http: reqwest::Client,
    base: Url,
}

/// One attempt's raw result.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    pub latency: Duration,
    /// Set when no HTTP answer came back.
    pub transport: Option<Transport>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// The request never left (connection refused or timed out, DNS, TLS, no token): retrying cannot duplicate a
    /// send.
    NotSent(String),
    /// The request may have reached Graph (timeout, connection dropped mid-way).
    MaybeSent(String),
}

impl GraphClient {
    pub fn new(base: Url, timeout: Duration) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!("mailgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base })
    }

    fn send_mail_url(&self, mailbox: &str) -> Url {
        self.user_url(mailbox, &["sendMail"])
    }

    /// `{graph}/v1.0/users/{mailbox}/{tail...}`, each part one escaped path segment.
    pub(super) fn user_url(&self, mailbox: &str, tail: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(["v1.0", "users", mailbox]).extend(tail);
        }
        url
    }

    /// `POST {graph}/v1.0/users/{mailbox}/sendMail`, with the message id as `client-request-id`: the whole message
    /// in one request (`send_mail.rs` chooses between this and the upload path).
    pub(super) async fn send_in_one_request(
        &self,
        token: &str,
        mailbox: &str,
        message_id: Uuid,
        body: &Value,
    ) -> Attempt {
        let started = Instant::now();
        let request = self
            .http
            .post(self.send_mail_url(mailbox))
            .bearer_auth(token)
            .header("client-request-id", message_id.to_string());
        // A message with both bodies is stored as base64 MIME, which sendMail takes as text/plain.
        let request = match body.get("mime").and_then(Value::as_str) {
            Some(mime) => request.header(header::CONTENT_TYPE, "text/plain").body(mime.to_owned()),
            None => request.json(body),
        };
        let response = request.send().await;
        let mut attempt = match response {
            Ok(r) => read_response(r).await,
            Err(e) => Attempt { transport: Some(classify_transport(&e)), ..Attempt::default() },
        };
        attempt.latency = started.elapsed();
        attempt
    }
}

pub(super) fn classify_transport(e: &reqwest::Error) -> Transport {
    // Only a failure to connect proves the request was never sent. A connection that was never established, even
    // one that timed out while connecting, cannot have carried it; any other timeout may have.
    let text = error_chain(e);
    if e.is_connect() { Transport::NotSent(text) } else { Transport::MaybeSent(text) }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(super) async fn read_response(r: reqwest::Response) -> Attempt {
    let status = r.status();
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = header("request-id");
    let retry_after =
        header(header::RETRY_AFTER.as_str()).and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
    let mut attempt = Attempt { status: Some(status.as_u16()), request_id, retry_after, ..Attempt::default() };
    if status == StatusCode::ACCEPTED {
        return attempt;
    }
    let content_type = header(header::CONTENT_TYPE.as_str());
    match r.bytes().await {
        Ok(bytes) => {
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let error = &json["error"];
            attempt.code = error["code"].as_str().map(str::to_owned);
            attempt.message = error["message"].as_str().map(|m| m.chars().take(500).collect());
            if attempt.request_id.is_none() {
                attempt.request_id = error["innerError"]["request-id"].as_str().map(str::to_owned);
            }
            if attempt.code.is_none() {
                // A gateway in front of Graph answers with a page of its own, or nothing: only the status counts.
                let what = match content_type {
                    _ if bytes.is_empty() => "no body".to_owned(),
                    Some(t) => t.chars().take(100).collect(),
                    None => "a body of no stated type".to_owned(),
                };
                attempt.message = Some(format!("HTTP {} without a Graph error body ({what})", status.as_u16()));
            }
        }
        Err(e) => attempt.message = Some(format!("error body unreadable: {e}")),
    }
    attempt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_is_one_escaped_path_segment() {
        let c = GraphClient::new(Url::parse("http://127.0.0.1:9/base/").expect("url"), Duration::from_secs(1))
            .expect("client");
        assert_eq!(c.send_mail_url("a/b@x.com").as_str(), "http://127.0.0.1:9/base/v1.0/users/a%2Fb@x.com/sendMail");
    }

    #[tokio::test]
    async fn a_connection_that_timed_out_while_connecting_was_never_sent() {
        // A listener whose accept queue is full: the kernel drops further connection requests unanswered.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let fillers: Vec<_> = (0..4)
            .filter_map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
            .collect();
        assert!(!fillers.is_empty(), "the accept queue could not be filled");
        let http = reqwest::Client::builder().connect_timeout(Duration::from_millis(300)).build().expect("client");
        let err = http.post(format!("http://{addr}/sendMail")).body("x").send().await.expect_err("cannot connect");
        assert!(err.is_connect() && err.is_timeout(), "not a connect timeout: {err:?}");
        assert!(matches!(classify_transport(&err), Transport::NotSent(_)), "{err:?}");
        drop(listener);
    }

    #[tokio::test]
    async fn a_request_that_timed_out_after_connecting_may_have_been_sent() {
        // Accepts and reads, never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (conn, _) = listener.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(conn);
        });
        let http = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");
        let err = http.post(format!("http://{addr}/sendMail")).body("x").send().await.expect_err("no answer");
        assert!(err.is_timeout() && !err.is_connect(), "{err:?}");
        assert!(matches!(classify_transport(&err), Transport::MaybeSent(_)), "{err:?}");
        server.abort();
    }
}
