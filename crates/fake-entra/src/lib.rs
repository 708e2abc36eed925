//! A fake Microsoft Entra ID tenant for mailgate's tests: it generates RSA keys, serves OpenID metadata and a
//! JWKS over HTTP on loopback, rotates keys, and signs tokens — good ones and deliberately bad
//! ones. For tests only; it panics on internal failures.

mod keys;
mod server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use keys::{TestKey, pem, signing_input};
use server::Shared;

const PUBLIC_V2_ISSUER_HOST: &str = "https://login.microsoftonline.com";
const PUBLIC_V1_ISSUER_HOST: &str = "https://sts.windows.net";

/// How the public key is encoded when it is misused as an HMAC secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyEncoding {
    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM text.
    Pem,
    /// SubjectPublicKeyInfo DER.
    Der,
}

/// A fake Entra ID tenant served on `127.0.0.1:0`. The server stops when this is dropped.
pub struct TestIssuer {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIssuer {
    /// Starts a tenant with a random tenant id and one published signing key.
    pub async fn start() -> Self {
        Self::start_for_tenant(&uuid::Uuid::new_v4().to_string()).await
    }

    /// Starts a tenant with the given tenant id and one published signing key, in the public cloud.
    pub async fn start_for_tenant(tenant_id: &str) -> Self {
        Self::start_with(tenant_id, PUBLIC_V2_ISSUER_HOST, PUBLIC_V1_ISSUER_HOST).await
    }

    /// Starts a tenant of another authority, whose metadata and tokens name issuers under `v2_issuer_host` and
    /// `v1_issuer_host` (e.g. `https://login.microsoftonline.us` and `https://sts.windows.net` for US Government).
    pub async fn start_in_cloud(v2_issuer_host: &str, v1_issuer_host: &str) -> Self {
        Self::start_with(&uuid::Uuid::new_v4().to_string(), v2_issuer_host, v1_issuer_host).await
    }

    async fn start_with(tenant_id: &str, v2_issuer_host: &str, v1_issuer_host: &str) -> Self {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let key = TestKey::generate();
        let shared = Arc::new(Shared {
            tenant_id: tenant_id.to_owned(),
            base_url: format!("http://{addr}"),
            v2_issuer_host: v2_issuer_host.to_owned(),
            v1_issuer_host: v1_issuer_host.to_owned(),
            published: Mutex::new(vec![key.clone()]),
            current: Mutex::new(key),
            available: AtomicBool::new(true),
            jwks_requests: AtomicUsize::new(0),
            metadata_requests: AtomicUsize::new(0),
        });
        let router = server::router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { shared, server }
    }

    /// `http://127.0.0.1:{port}`: the authority host a validator under test should use.
    pub fn authority(&self) -> reqwest::Url {
        reqwest::Url::parse(&self.shared.base_url).expect("loopback URL")
    }

    pub fn tenant_id(&self) -> &str {
        &self.shared.tenant_id
    }

    /// JWKS requests served (or refused while unavailable) so far.
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// Metadata requests served (or refused while unavailable) so far.
    pub fn metadata_requests(&self) -> usize {
        self.shared.metadata_requests.load(Ordering::SeqCst)
    }

    /// While false, metadata and JWKS answer 503.
    pub fn set_available(&self, available: bool) {
        self.shared.available.store(available, Ordering::SeqCst);
    }

    /// The kid of the key that [`TestIssuer::sign`] uses.
    pub fn current_kid(&self) -> String {
        self.current().kid.clone()
    }

    /// Publishes a new key and signs with it from now on; old keys stay published.
    /// Returns the new kid.
    pub fn rotate(&self) -> String {
        let key = TestKey::generate();
        self.shared.published.lock().expect("lock").push(key.clone());
        *self.shared.current.lock().expect("lock") = key.clone();
        key.kid.clone()
    }

    /// Signs with a fresh key that is never published. Returns the new kid.
    pub fn switch_to_unpublished_key(&self) -> String {
        let key = TestKey::generate();
        *self.shared.current.lock().expect("lock") = key.clone();
        key.kid.clone()
    }

    /// Removes a key from the JWKS.
    pub fn retire(&self, kid: &str) {
        self.shared.published.lock().expect("lock").retain(|k| k.kid != kid);
    }

    /// Claims of a valid v1 app-only token (`ver` 1.0, `appid`) for `audience`.
    pub fn v1_claims(&self, app_id: &str, audience: &str) -> Value {
        let tid = self.tenant_id();
        let mut claims = base_claims(tid, audience);
        claims["iss"] = json!(format!("{}/{tid}/", self.shared.v1_issuer_host));
        claims["ver"] = json!("1.0");
        claims["appid"] = json!(app_id);
        claims
    }

    /// Claims of a valid v2 app-only token (`ver` 2.0, `azp`) for `audience`.
    pub fn v2_claims(&self, app_id: &str, audience: &str) -> Value {
        let tid = self.tenant_id();
        let mut claims = base_claims(tid, audience);
        claims["iss"] = json!(format!("{}/{tid}/v2.0", self.shared.v2_issuer_host));
        claims["ver"] = json!("2.0");
        claims["azp"] = json!(app_id);
        claims
    }

    /// The header Entra puts on tokens signed with the current key.
    pub fn header(&self) -> Value {
        let key = self.current();
        json!({ "typ": "JWT", "alg": "RS256", "kid": key.kid, "x5t": key.x5t })
    }

    /// An RS256 token signed with the current key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&self.header(), claims)
    }

    /// Signs `claims` under an arbitrary `header` with the current key: RSA-PSS when the
    /// header says PS256, else PKCS#1 v1.5 whatever the header claims.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let message = signing_input(header, claims);
        let encoding: &'static dyn RsaEncoding = match header["alg"].as_str() {
            Some("PS256") => &RSA_PSS_SHA256,
            _ => &RSA_PKCS1_SHA256,
        };
        let signature = self.current().sign(encoding, message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// An `alg: none` token with an empty signature.
    pub fn alg_none(&self, claims: &Value) -> String {
        let header = json!({ "typ": "JWT", "alg": "none", "kid": self.current_kid() });
        format!("{}.", signing_input(&header, claims))
    }

    /// The classic confusion attack: HS256 keyed with the current public key's bytes.
    pub fn hs256_with_public_key(&self, claims: &Value, encoding: PublicKeyEncoding) -> String {
        let der = self.current().spki_der();
        let secret = match encoding {
            PublicKeyEncoding::Der => der,
            PublicKeyEncoding::Pem => pem("PUBLIC KEY", &der).into_bytes(),
        };
        let header = json!({ "typ": "JWT", "alg": "HS256", "kid": self.current_kid() });
        let message = signing_input(&header, claims);
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Changes one character in the middle of the payload, leaving the signature as it was.
    pub fn tamper(token: &str) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let payload = parts.get_mut(1).expect("a JWT has a payload");
        let middle = payload.len() / 2;
        let old = payload.as_bytes()[middle];
        let new = if old == b'A' { "B" } else { "A" };
        payload.replace_range(middle..=middle, new);
        parts.join(".")
    }

    fn current(&self) -> Arc<TestKey> {
        self.shared.current.lock().expect("lock").clone()
    }
}

/// Seconds since the Unix epoch, shifted by `offset` seconds.
pub fn unix_time(offset: i64) -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX) + offset
}

fn base_claims(tid: &str, audience: &str) -> Value {
    json!({
        "aud": audience, "tid": tid, "iat": unix_time(-60), "nbf": unix_time(-60),
        "exp": unix_time(3600), "oid": uuid::Uuid::new_v4().to_string(),
        "sub": uuid::Uuid::new_v4().to_string(), "roles": ["Mail.Send"], "idtyp": "app",
    })
}
