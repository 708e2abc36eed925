//! The simulator's shared, mutable state: tokens, fault queues, policies, mailbox
//! directory, the request log and counters.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::SimConfig;
use super::draft_store::DraftStore;
use super::types::{Fault, ReceivedRequest, ScriptedFault, SimPolicy, SimStats};

/// Mailbox key that routes faults to the token endpoint.
pub const TOKEN_FAULT_KEY: &str = "@token";

#[derive(Debug, Clone)]
struct TokenInfo {
    app_id: String,
    expires_on: u64,
}

/// The result of checking a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// No `Authorization: Bearer ...` header.
    Missing,
    /// A token this simulator never issued.
    Unknown,
    /// Issued to this app id, but expired.
    Expired(String),
    /// Issued to this app id and still valid.
    Valid(String),
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<String, TokenInfo>,
    faults: HashMap<String, VecDeque<ScriptedFault>>,
    policies: Vec<SimPolicy>,
    /// Lower-cased addresses; `None` means every mailbox exists.
    mailboxes: Option<HashSet<String>>,
    received: Vec<ReceivedRequest>,
    stats: SimStats,
    in_flight: HashMap<String, u32>,
    next_seq: u64,
    /// Resource → the token every request for it gets, so that a test can make it a database role's password.
    pinned_tokens: HashMap<String, String>,
    /// Resource → tokens issued for it.
    issued_for: HashMap<String, u64>,
}

pub struct State {
    pub config: SimConfig,
    inner: Mutex<Inner>,
    /// Drafts, upload sessions and the log of draft requests.
    pub drafts: DraftStore,
}

/// Normalised key for a mailbox: trimmed and lower-cased.
pub fn mailbox_key(mailbox: &str) -> String {
    mailbox.trim().to_ascii_lowercase()
}

/// A resource as the endpoint sees it: a scope's `/.default` and a trailing slash do not make another resource.
fn resource_key(resource: &str) -> String {
    let r = resource.trim();
    r.strip_suffix("/.default").unwrap_or(r).trim_end_matches('/').to_owned()
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl State {
    pub fn new(config: SimConfig) -> Self {
        Self { config, inner: Mutex::new(Inner::default()), drafts: DraftStore::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent even if a holder panicked; keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count a token request.
    pub fn count_token_request(&self) {
        self.lock().stats.token_requests += 1;
    }

    /// Issue a fresh opaque token for `app_id`; returns the token and its expiry (unix seconds).
    pub fn issue_token(&self, app_id: &str) -> (String, u64) {
        let token = format!("sim-{}", uuid::Uuid::new_v4().simple());
        let expires_on = unix_now() + self.config.token_ttl.as_secs();
        let info = TokenInfo { app_id: app_id.to_string(), expires_on };
        self.lock().tokens.insert(token.clone(), info);
        (token, expires_on)
    }

    /// Issue a token for `resource`: the pinned one if a test pinned one, else a fresh one.
    pub fn issue_token_for(&self, app_id: &str, resource: &str) -> (String, u64) {
        let resource = resource_key(resource);
        let mut inner = self.lock();
        *inner.issued_for.entry(resource.clone()).or_default() += 1;
        let Some(token) = inner.pinned_tokens.get(&resource).cloned() else {
            drop(inner);
            return self.issue_token(app_id);
        };
        let expires_on = unix_now() + self.config.token_ttl.as_secs();
        inner.tokens.insert(token.clone(), TokenInfo { app_id: app_id.to_string(), expires_on });
        (token, expires_on)
    }

    /// From now on every token request for `resource` gets `token` (None: fresh tokens again).
    pub fn pin_token(&self, resource: &str, token: Option<String>) {
        let resource = resource_key(resource);
        let mut inner = self.lock();
        match token {
            Some(t) => inner.pinned_tokens.insert(resource, t),
            None => inner.pinned_tokens.remove(&resource),
        };
    }

    /// How many tokens were issued for `resource` so far.
    pub fn tokens_issued_for(&self, resource: &str) -> u64 {
        self.lock().issued_for.get(&resource_key(resource)).copied().unwrap_or(0)
    }

    /// Check an `Authorization` header value (`Bearer <token>`).
    pub fn check_token(&self, authorization: Option<&str>) -> TokenCheck {
        let token = authorization
            .map(str::trim)
            .and_then(|a| a.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return TokenCheck::Missing;
        };
        match self.lock().tokens.get(token) {
            None => TokenCheck::Unknown,
            Some(info) if info.expires_on <= unix_now() => TokenCheck::Expired(info.app_id.clone()),
            Some(info) => TokenCheck::Valid(info.app_id.clone()),
        }
    }

    pub fn add_faults(&self, mailbox: &str, faults: Vec<ScriptedFault>) {
        let mut inner = self.lock();
        let queue = inner.faults.entry(mailbox_key(mailbox)).or_default();
        queue.extend(faults.into_iter().filter(|f| f.times > 0));
    }

    /// Take one use of the next scripted fault for `mailbox`, if any.
    pub fn next_fault(&self, mailbox: &str) -> Option<Fault> {
        let mut inner = self.lock();
        let key = mailbox_key(mailbox);
        let queue = inner.faults.get_mut(&key)?;
        let front = queue.front_mut()?;
        let fault = front.fault.clone();
        front.times = front.times.saturating_sub(1);
        if front.times == 0 {
            queue.pop_front();
        }
        if queue.is_empty() {
            inner.faults.remove(&key);
        }
        Some(fault)
    }

    pub fn set_policies(&self, policies: Vec<SimPolicy>) {
        self.lock().policies = policies;
    }

    pub fn policies(&self) -> Vec<SimPolicy> {
        self.lock().policies.clone()
    }

    pub fn set_mailboxes(&self, mailboxes: Option<Vec<String>>) {
        self.lock().mailboxes = mailboxes.map(|l| l.iter().map(|m| mailbox_key(m)).collect());
    }

    pub fn mailbox_exists(&self, mailbox: &str) -> bool {
        match &self.lock().mailboxes {
            None => true,
            Some(set) => set.contains(&mailbox_key(mailbox)),
        }
    }

    /// Register a sendMail (or draft `send`) request: counts it, assigns its sequence number and
    /// tracks in-flight concurrency until the returned guard is dropped.
    pub fn enter_send(self: &Arc<Self>, mailbox: &str) -> (u64, InFlightGuard) {
        let mut inner = self.lock();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        inner.stats.send_requests += 1;
        (seq, self.track(inner, mailbox))
    }

    /// Register a request to a draft endpoint other than `send`; tracked like sendMail for concurrency.
    pub fn enter_draft_step(self: &Arc<Self>, mailbox: &str) -> InFlightGuard {
        let mut inner = self.lock();
        inner.stats.draft_requests += 1;
        self.track(inner, mailbox)
    }

    fn track(self: &Arc<Self>, mut inner: MutexGuard<'_, Inner>, mailbox: &str) -> InFlightGuard {
        let key = mailbox_key(mailbox);
        let now = {
            let n = inner.in_flight.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let max = inner.stats.max_in_flight.entry(key.clone()).or_insert(0);
        *max = (*max).max(now);
        drop(inner);
        InFlightGuard { state: Arc::clone(self), key }
    }

    /// Store the record of a finished sendMail request.
    pub fn record(&self, mut request: ReceivedRequest) {
        if self.config.light_log {
            request.body = serde_json::Value::Null;
            request.authorization = None;
        }
        let mut inner = self.lock();
        if request.status == Some(202) {
            inner.stats.accepted += 1;
        }
        let at = inner.received.iter().rposition(|r| r.seq < request.seq).map_or(0, |i| i + 1);
        inner.received.insert(at, request);
    }

    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.lock().received.clone()
    }

    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }

    /// Clear the request log, scripted faults, counters, sequence numbers, drafts and upload sessions.
    /// Policies, the mailbox directory and issued tokens are kept.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.received.clear();
        inner.faults.clear();
        inner.stats = SimStats::default();
        inner.next_seq = 0;
        drop(inner);
        self.drafts.clear();
    }
}

/// Decrements a mailbox's in-flight count when dropped.
pub struct InFlightGuard {
    state: Arc<State>,
    key: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut inner = self.state.lock();
        if let Some(n) = inner.in_flight.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.in_flight.remove(&self.key);
            }
        }
    }
}
