//! A loopback simulator of Microsoft Graph `sendMail` and the App Service
//! managed identity token endpoint, for integration tests, local runs and benchmarks.
//!
//! Endpoints:
//! - `GET /msi/token?api-version=2019-08-01&resource=...[&client_id=...]` with `X-IDENTITY-HEADER`. Each token is
//!   for the resource it was asked for; Graph takes only tokens for `SimConfig::graph_resource`.
//! - `POST /v1.0/users/{mailbox}/sendMail`. The request is in the log from its arrival (a request whose client died
//!   stays there, `abandoned`). Checks, in order: bearer token and its audience (401), the mailbox's next scripted
//!   fault, body size (413), JSON shape and Graph's validation, unknown properties included (400), mailbox directory
//!   (404 for every name it does not list), application access policies (403); otherwise 202 with an empty body.
//! - The draft path for messages over 4 MB (see `draft`, `draft_send` and `upload`): `POST
//!   /v1.0/users/{mailbox}/messages`, `POST .../messages/{id}/attachments`, `POST
//!   .../messages/{id}/attachments/createUploadSession`, `PUT /upload/{session}?token=...` (no `Authorization`),
//!   `POST .../messages/{id}/send`, `DELETE .../messages/{id}`. Scripted faults hit every step from the same
//!   per-mailbox queue; only `send` adds to the `received` log.
//! - Control API: `POST /sim/faults`, `GET|PUT /sim/policies`, `GET|PUT|POST /sim/mailboxes` (the directory: replace,
//!   add), `PUT /sim/tokens` (`{"resource": …, "token": …|null}`: the token every request for a resource gets),
//!   `GET /sim/received[?mailbox=]`, `GET /sim/drafts`, `GET /sim/stats`, `POST /sim/reset`.
//!
//! A reset clears the request log, scripted faults, counters, sequence numbers and drafts; it keeps policies, the
//! mailbox directory and issued tokens (clients cache tokens).

pub mod cli;
mod conn;
mod control;
mod draft;
mod draft_send;
mod draft_store;
mod faults;
mod gate;
mod mime;
mod policy;
mod props;
mod response;
mod send_mail;
mod server;
mod state;
mod token;
mod tokens;
mod types;
mod upload;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

pub use conn::{ConnHandle, KillableListener};
pub use draft::MAX_UPLOAD_BYTES;
pub use policy::{AccessCheck, decide};
pub use server::{SimHandle, read_json_file, serve, shutdown_signal};
pub use state::TOKEN_FAULT_KEY;
pub use types::{
    AccessRight, AttachmentRecord, ChunkRecord, DraftInfo, DraftRecord, DraftStep, Fate, Fault, FaultRequest,
    GatewayBody, ReceivedRequest, ScriptedFault, SimPolicy, SimStats,
};
pub use upload::MAX_CHUNK_BYTES;
pub use validate::looks_like_address;

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Secret the token endpoint requires in `X-IDENTITY-HEADER`.
    pub identity_header: String,
    /// App id of the system-assigned identity tokens are issued to.
    pub app_id: String,
    /// The resource Graph's tokens are for (their audience). A token the simulator issued for any other resource —
    /// a wrong scope, the database's — is refused 401 `InvalidAuthenticationToken`, as Graph refuses it.
    pub graph_resource: String,
    /// Lifetime of issued tokens.
    pub token_ttl: Duration,
    /// Largest accepted sendMail body (Graph: 4 MB).
    pub max_body_bytes: usize,
    /// Smallest attachment an upload session takes (`ErrorAttachmentSizeShouldNotBeLessThanMinimumSize`
    /// below it). Graph's exact minimum is undocumented; its guidance is sessions for 3 MB and more.
    pub min_upload_session_bytes: u64,
    /// Keep only what identifies each request in the log (no body, no `Authorization`), so that a long benchmark
    /// run does not hold every message it sent in memory. Counters and the rest of each record are unchanged.
    pub light_log: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            identity_header: "sim-identity-secret".to_string(),
            app_id: "00000000-0000-0000-0000-00000000a11e".to_string(),
            graph_resource: "https://graph.microsoft.com".to_string(),
            token_ttl: Duration::from_secs(3600),
            max_body_bytes: 4 * 1024 * 1024,
            min_upload_session_bytes: 3_000_000,
            light_log: false,
        }
    }
}

/// The simulator; cheap to clone, all clones share state.
#[derive(Clone)]
pub struct Sim {
    state: Arc<state::State>,
}

async fn not_found(request: axum::extract::Request) -> Response {
    let ctx = response::ReqCtx::from_headers(request.headers());
    response::GraphError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("Resource not found for the segment '{}'.", request.uri().path()),
    )
    .into_response(&ctx)
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        Sim { state: Arc::new(state::State::new(config)) }
    }

    /// The simulator's configuration.
    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    /// Every endpoint. Serve it with [`serve`] (or [`Sim::spawn`]) so that `Drop`
    /// faults close the connection without writing anything.
    pub fn router(&self) -> Router {
        // sendMail reads its body itself and enforces max_body_bytes; the limit here
        // only bounds the control API's JSON extractors.
        let limit = self.state.config.max_body_bytes.saturating_mul(2).max(2 * 1024 * 1024);
        let send = post(send_mail::send_mail);
        Router::new()
            .route("/msi/token", get(token::token))
            .route("/v1.0/users/{mailbox}/sendMail", send.clone())
            .route("/v1.0/users/{mailbox}/sendmail", send)
            .route("/v1.0/users/{mailbox}/messages", post(draft::create))
            .route("/v1.0/users/{mailbox}/messages/{id}/attachments", post(draft::attach))
            .route("/v1.0/users/{mailbox}/messages/{id}/attachments/createUploadSession", post(draft::create_session))
            .route("/v1.0/users/{mailbox}/messages/{id}", axum::routing::delete(draft_send::delete))
            .route("/v1.0/users/{mailbox}/messages/{id}/send", post(draft_send::send))
            .route("/upload/{session}", axum::routing::put(upload::put))
            .route("/sim/faults", post(control::add_faults))
            .route("/sim/policies", get(control::get_policies).put(control::put_policies))
            .route(
                "/sim/mailboxes",
                get(control::get_mailboxes).put(control::put_mailboxes).post(control::add_mailboxes),
            )
            .route("/sim/drafts", get(control::drafts))
            .route("/sim/tokens", axum::routing::put(control::pin_token))
            .route("/sim/received", get(control::received))
            .route("/sim/stats", get(control::stats))
            .route("/sim/reset", post(control::reset))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(limit))
            .with_state(Arc::clone(&self.state))
    }

    /// Bind `127.0.0.1:0` and serve in a background task (aborted when the handle drops).
    pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
        server::spawn(Sim::new(config)).await
    }

    /// Append one-shot faults for `mailbox` (`"@token"` targets the token endpoint).
    pub fn add_faults(&self, mailbox: &str, faults: Vec<Fault>) {
        let scripted = faults.into_iter().map(ScriptedFault::once).collect();
        self.state.add_faults(mailbox, scripted);
    }

    /// Append faults with repeat counts for `mailbox`.
    pub fn add_scripted_faults(&self, mailbox: &str, faults: Vec<ScriptedFault>) {
        self.state.add_faults(mailbox, faults);
    }

    /// Replace the application access policies.
    pub fn set_policies(&self, policies: Vec<SimPolicy>) {
        self.state.set_policies(policies);
    }

    /// Replace the mailbox directory: the addresses (or object ids) of the mailboxes that exist. Every other name
    /// is answered 404 `ErrorInvalidUser`, as in a tenant; the directory starts empty.
    pub fn set_mailboxes<S: AsRef<str>>(&self, mailboxes: &[S]) {
        self.state.set_mailboxes(mailboxes);
    }

    /// Add mailboxes to the directory.
    pub fn add_mailboxes<S: AsRef<str>>(&self, mailboxes: &[S]) {
        self.state.add_mailboxes(mailboxes);
    }

    /// The directory, lower-cased and sorted.
    pub fn mailboxes(&self) -> Vec<String> {
        self.state.mailboxes()
    }

    /// The drafts still in Drafts folders: created, and neither sent nor deleted.
    pub fn drafts(&self) -> Vec<DraftInfo> {
        self.state.drafts.drafts()
    }

    /// Every request to the draft endpoints so far (`send` included), in arrival order.
    pub fn draft_steps(&self) -> Vec<DraftStep> {
        self.state.drafts.steps()
    }

    /// Every sendMail and draft `send` request so far, in arrival order, each recorded when it arrived: see
    /// [`ReceivedRequest::fate`] for what became of it.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.state.received()
    }

    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// From now on the managed identity endpoint answers every request for `resource` (a scope's `/.default` may be
    /// left on) with `token`, valid for the configured lifetime from each request; None: fresh random tokens again.
    /// Lets a test make the token a password it controls, e.g. a database role's.
    pub fn pin_token(&self, resource: &str, token: Option<String>) {
        self.state.tokens.pin(resource, token);
    }

    /// How many tokens the managed identity endpoint issued for `resource` so far.
    pub fn tokens_issued_for(&self, resource: &str) -> u64 {
        self.state.tokens.issued_for(resource)
    }

    /// Clear the request log, faults and counters (policies, directory and tokens stay).
    pub fn reset(&self) {
        self.state.reset();
    }
}
