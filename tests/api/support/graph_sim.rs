//! The Graph simulator's tenant for these tests, and its record of what reached it.

use std::collections::BTreeMap;

use graph_sim::{ReceivedRequest, Sim, SimConfig, SimHandle};

use super::seed::{ALLOWED, OUTSIDE};

/// The mailboxes of the simulated tenant: the names these tests send as. Graph answers 404 `ErrorInvalidUser` for
/// any other, so a test that sends as a mailbox of its own adds it to its simulator (`add_mailboxes`).
pub const MAILBOXES: &[&str] = &[
    ALLOWED,
    OUTSIDE,
    "a@contoso.test",
    "b@contoso.test",
    "attempts@contoso.test",
    "batch-a@contoso.test",
    "batch-b@contoso.test",
    "batch-c@contoso.test",
    "behind-claim@contoso.test",
    "big@contoso.test",
    "billing@contoso.test",
    "box3@contoso.test",
    "bulk-busy@contoso.test",
    "bulk-quiet@contoso.test",
    "exec@contoso.test",
    "free@contoso.test",
    "full@contoso.test",
    "hr@contoso.test",
    "jane@contoso.test",
    "john@contoso.test",
    "late@contoso.test",
    "locked@contoso.test",
    "long@contoso.test",
    "lost@contoso.test",
    "moved-from@contoso.test",
    "moved-to@contoso.test",
    "open-tx@contoso.test",
    "paced@contoso.test",
    "paused@contoso.test",
    "payroll@contoso.test",
    "room@contoso.test",
    "shared@contoso.test",
    "stale@contoso.test",
    "ttl@contoso.test",
    "ttl-raised@contoso.test",
    "zzz@contoso.test",
];

/// A Graph simulator on loopback whose tenant holds `MAILBOXES`.
pub async fn sim(config: SimConfig) -> SimHandle {
    let sim = Sim::spawn(config).await.expect("sim");
    sim.sim.set_mailboxes(MAILBOXES);
    sim
}

/// The statuses the simulator answered, per `client-request-id` (mailgate sends the message id), in arrival order.
pub fn received_by_message(sim: &SimHandle) -> BTreeMap<String, Vec<Option<u16>>> {
    let mut out: BTreeMap<String, Vec<Option<u16>>> = BTreeMap::new();
    for r in sim.sim.received() {
        out.entry(r.client_request_id.clone().unwrap_or_default()).or_default().push(r.status);
    }
    out
}

/// Every request that reached the simulator, by message id (mailgate's `client-request-id`), in arrival order.
pub fn arrivals(sim: &SimHandle) -> BTreeMap<String, Vec<ReceivedRequest>> {
    let mut out: BTreeMap<String, Vec<ReceivedRequest>> = BTreeMap::new();
    for r in sim.sim.received() {
        out.entry(r.client_request_id.clone().unwrap_or_default()).or_default().push(r);
    }
    out
}
