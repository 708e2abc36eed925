//! The service's HTTP API as the tests call it: a client holding one key, with typed calls for sending and reading
//! messages and for the admin API, and `post_once` for load that must never panic on a transport error.

use reqwest::Method;
use serde_json::Value;

use super::server::TestApp;

/// Calls to one mailgate with one key.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    pub fn new(http: &reqwest::Client, base: &str, key: &str) -> Client {
        Client { http: http.clone(), base: base.to_owned(), key: key.to_owned() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` with an optional JSON body: (status, JSON body, or null when the body is not JSON).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// `POST /v1/messages`, the answer as it came.
    pub async fn post_message(&self, body: &Value) -> reqwest::Response {
        self.http.post(self.url("/v1/messages")).bearer_auth(&self.key).json(body).send().await.expect("request")
    }

    /// `POST path` declaring a `length`-byte JSON body and asking `Expect: 100-continue`, as curl does for a large
    /// body, then reading the answer before any of the body is sent: (status, JSON body). A service that refuses by
    /// the declared length answers at once; one that wanted the body would send `100 Continue` instead, which fails
    /// here. Unlike a client that writes the whole body first, this cannot meet a broken pipe when the refusal closes
    /// the connection.
    pub async fn post_declared(&self, path: &str, length: usize) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            self.key
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        let mut answer = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(30), stream.read_to_end(&mut answer))
            .await
            .expect("the service answered without asking for the body")
            .expect("read");
        let text = String::from_utf8_lossy(&answer);
        let status_line = text.lines().next().unwrap_or_default();
        assert!(!status_line.contains(" 100 "), "the service asked for the body: {text}");
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Sends `body`, which must be accepted (202); returns the message id.
    pub async fn send(&self, body: &Value) -> String {
        let r = self.post_message(body).await;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 202, "{answer}");
        answer["id"].as_str().expect("id").to_owned()
    }

    /// The view of message `id`, which must be found.
    pub async fn get_message(&self, id: &str) -> Value {
        let (status, view) = self.get(&format!("/v1/messages/{id}")).await;
        assert_eq!(status, 200, "{view}");
        view
    }

    /// `POST /v1/access/test`: how the policies decide `app` sending as `mailbox`.
    pub async fn access_test(&self, app: &str, mailbox: &str) -> Value {
        let (status, body) = self.post("/v1/access/test", &serde_json::json!({"app": app, "mailbox": mailbox})).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

impl TestApp {
    /// A client with the demo app's key.
    pub fn client(&self) -> Client {
        self.client_as(&self.demo.key)
    }

    /// A client with `key`.
    pub fn client_as(&self, key: &str) -> Client {
        Client::new(&self.http, &self.base, key)
    }

    pub async fn post_message(&self, body: &Value) -> reqwest::Response {
        self.client().post_message(body).await
    }

    pub async fn post_message_as(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client_as(key).post_message(body).await
    }

    /// Sends `body` as the demo app, which must be accepted; returns the message id.
    pub async fn send(&self, body: &Value) -> String {
        self.client().send(body).await
    }

    pub async fn get_message(&self, id: &str) -> Value {
        self.client().get_message(id).await
    }

    /// The outcomes of a message view's events, in order.
    pub fn outcomes(view: &Value) -> Vec<String> {
        view["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["outcome"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

/// What one `POST /v1/messages` got back.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The HTTP status; None when no answer came (refused or dropped connection, timeout).
    pub status: Option<u16>,
    /// The message id of a 202.
    pub id: Option<String>,
    /// The problem's `code` of an error answer, or the transport error.
    pub error: Option<String>,
    pub content_type: Option<String>,
}

impl Posted {
    pub fn acknowledged(&self) -> bool {
        self.status == Some(202)
    }
}

/// Posts one message to `base`, never panicking on a transport error.
pub async fn post_once(http: &reqwest::Client, base: &str, key: &str, body: &Value) -> Posted {
    let sent = http.post(format!("{base}/v1/messages")).bearer_auth(key).json(body).send().await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            return Posted { status: None, id: None, error: Some(e.to_string()), content_type: None };
        }
    };
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let json: Value = response.json().await.unwrap_or(Value::Null);
    let (id, error) = if status == 202 {
        (json["id"].as_str().map(str::to_owned), None)
    } else {
        (None, Some(json["code"].as_str().unwrap_or("").to_owned()))
    };
    Posted { status: Some(status), id, error, content_type }
}
