//! The simulator's shared, mutable state: fault queues, policies, mailbox
//! directory, the request log and counters.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::SimConfig;
use super::draft_store::DraftStore;
pub use super::tokens::TokenCheck;
use super::tokens::TokenStore;
use super::types::{Fate, Fault, ReceivedRequest, ScriptedFault, SimPolicy, SimStats};

/// Mailbox key that routes faults to the token endpoint.
pub const TOKEN_FAULT_KEY: &str = "@token";

#[derive(Default)]
struct Inner {
    faults: HashMap<String, VecDeque<ScriptedFault>>,
    policies: Vec<SimPolicy>,
    /// Lower-cased addresses (or object ids) of the mailboxes that exist; none until configured, as in a tenant.
    mailboxes: HashSet<String>,
    /// Ordered by `seq`: each request is added on arrival, under the lock that gives it its number.
    received: Vec<ReceivedRequest>,
    /// Bumped by a reset, so that a request from before it cannot change the new log.
    epoch: u64,
    stats: SimStats,
    in_flight: HashMap<String, u32>,
    next_seq: u64,
}

pub struct State {
    pub config: SimConfig,
    inner: Mutex<Inner>,
    /// Issued tokens, and the resources they are for.
    pub tokens: TokenStore,
    /// Drafts, upload sessions and the log of draft requests.
    pub drafts: DraftStore,
}

/// Normalised key for a mailbox: trimmed and lower-cased.
pub fn mailbox_key(mailbox: &str) -> String {
    mailbox.trim().to_ascii_lowercase()
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl State {
    pub fn new(config: SimConfig) -> Self {
        let tokens = TokenStore::new(config.token_ttl, &config.graph_resource);
        Self { config, inner: Mutex::new(Inner::default()), tokens, drafts: DraftStore::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent even if a holder panicked; keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count a token request.
    pub fn count_token_request(&self) {
        self.lock().stats.token_requests += 1;
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

    pub fn set_mailboxes<S: AsRef<str>>(&self, mailboxes: &[S]) {
        self.lock().mailboxes = mailboxes.iter().map(|m| mailbox_key(m.as_ref())).collect();
    }

    pub fn add_mailboxes<S: AsRef<str>>(&self, mailboxes: &[S]) {
        self.lock().mailboxes.extend(mailboxes.iter().map(|m| mailbox_key(m.as_ref())));
    }

    pub fn mailboxes(&self) -> Vec<String> {
        let mut all: Vec<String> = self.lock().mailboxes.iter().cloned().collect();
        all.sort();
        all
    }

    pub fn mailbox_exists(&self, mailbox: &str) -> bool {
        self.lock().mailboxes.contains(&mailbox_key(mailbox))
    }

    /// Register a sendMail (or draft `send`) request on arrival: counts it, assigns its sequence number, adds its
    /// record to the log (status not yet known) and tracks in-flight concurrency until the arrival is dropped.
    pub fn arrive(self: &Arc<Self>, mut record: ReceivedRequest) -> Arrival {
        let mut inner = self.lock();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        let epoch = inner.epoch;
        inner.stats.send_requests += 1;
        record.seq = seq;
        record.fate = Fate::InProgress;
        self.lighten(&mut record);
        let mailbox = record.mailbox.clone();
        inner.received.push(record);
        let in_flight = self.track(inner, &mailbox);
        Arrival { state: Arc::clone(self), seq, epoch, done: false, _in_flight: in_flight }
    }

    fn lighten(&self, record: &mut ReceivedRequest) {
        if self.config.light_log {
            record.body = serde_json::Value::Null;
            record.authorization = None;
        }
    }

    /// Change the record of request `seq`, unless a reset came in between.
    fn update(&self, seq: u64, epoch: u64, change: impl FnOnce(&mut ReceivedRequest)) -> Option<u16> {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return None;
        }
        let at = inner.received.binary_search_by_key(&seq, |r| r.seq).ok()?;
        let record = &mut inner.received[at];
        change(record);
        self.lighten(record);
        record.status
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
        inner.epoch += 1;
        drop(inner);
        self.drafts.clear();
    }
}

/// A request in the log since its arrival. Dropped unfinished (the client went away and the server dropped the
/// handler), its record says `abandoned`.
pub struct Arrival {
    state: Arc<State>,
    seq: u64,
    epoch: u64,
    done: bool,
    _in_flight: InFlightGuard,
}

impl Arrival {
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Add what became known of the request (its body, once read).
    pub fn note(&self, change: impl FnOnce(&mut ReceivedRequest)) {
        self.state.update(self.seq, self.epoch, change);
    }

    /// Complete the record: `change` sets the status, the error code and the fate.
    pub fn finish(mut self, change: impl FnOnce(&mut ReceivedRequest)) {
        self.done = true;
        if self.state.update(self.seq, self.epoch, change) == Some(202) {
            self.state.lock().stats.accepted += 1;
        }
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if !self.done {
            self.state.update(self.seq, self.epoch, |r| r.fate = Fate::Abandoned);
        }
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
