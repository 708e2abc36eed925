//! Group commit: accepted messages from many requests share one transaction and one WAL flush. A few writer tasks
//! take whatever requests are waiting (no timer: under load, requests gather while the previous commit flushes; alone,
//! a request is written at once), write them with multi-row statements, commit, and only then answer each request.
//! A batch that fails on one bad row is written again row by row, so one row never fails its neighbours.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use uuid::Uuid;

use super::quota::{self, Ask, Verdict};
use crate::db;
use crate::db::idempotency::NewKey;
use crate::db::outbox::NewRow;
use crate::domain::channel::Channel;
use crate::error::unavailable_sqlstate;

/// At most this many requests per transaction: large enough to cover any burst the HTTP limits let in at once,
/// small enough that one statement's arrays stay a few megabytes.
const MAX_BATCH: usize = 256;
/// Transactions in flight at once: while one waits for its flush, the next gathers requests.
const WRITERS: usize = 4;

/// A message to store, owned so it can cross to a writer task.
pub struct Row {
    pub id: Uuid,
    pub app_id: Uuid,
    pub app_name: String,
    pub mailbox: String,
    pub subject: String,
    pub recipients: i32,
    pub queued: bool,
    pub payload: Option<Value>,
    /// The door it came in by, and the SMTP session's peer.
    pub channel: Channel,
    pub source_address: Option<String>,
    pub request_id: String,
    pub detail: String,
    pub notify_done: bool,
    /// The accepting request's trace context, when traces are exported.
    pub traceparent: Option<String>,
}

/// An Idempotency-Key to claim along with the row, and the answer to keep for its retries.
pub struct KeyClaim {
    pub key: String,
    pub hash: Vec<u8>,
    pub status: u16,
    pub response: Value,
}

pub struct Request {
    pub row: Row,
    pub key: Option<KeyClaim>,
    /// The app's quotas, when any is on (only for messages to be queued).
    pub quota: Option<Ask>,
}

/// What became of one request's row once its transaction committed.
#[derive(Debug, PartialEq)]
pub enum Written {
    Stored,
    /// Another request holds the Idempotency-Key: nothing was written; answer as that one was answered.
    KeyTaken,
    /// Over a quota: nothing was written.
    OverQuota(Verdict),
}

type Reply = oneshot::Sender<Result<Written, Arc<sqlx::Error>>>;

/// The handle requests write through. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<(Request, Reply)>,
}

impl Writer {
    /// Starts the writer tasks; they end when every handle is dropped.
    pub fn start(pool: PgPool, wake: Arc<Notify>, idempotency_ttl: Duration) -> Self {
        let (queue, requests) = mpsc::channel(4 * MAX_BATCH);
        let requests = Arc::new(Mutex::new(requests));
        for _ in 0..WRITERS {
            let task = Task { pool: pool.clone(), wake: wake.clone(), ttl: idempotency_ttl };
            tokio::spawn(task.run(requests.clone()));
        }
        Self { queue }
    }

    /// Writes the request with whichever others are waiting; returns once their transaction has committed.
    pub async fn write(&self, request: Request) -> Result<Written, Arc<sqlx::Error>> {
        let (reply, answer) = oneshot::channel();
        let closed = || Arc::new(sqlx::Error::PoolClosed);
        self.queue.send((request, reply)).await.map_err(|_| closed())?;
        answer.await.unwrap_or_else(|_| Err(closed()))
    }
}

struct Task {
    pool: PgPool,
    wake: Arc<Notify>,
    ttl: Duration,
}

impl Task {
    async fn run(self, requests: Arc<Mutex<mpsc::Receiver<(Request, Reply)>>>) {
        loop {
            let mut batch = Vec::new();
            {
                let mut requests = requests.lock().await;
                if requests.recv_many(&mut batch, MAX_BATCH).await == 0 {
                    return;
                }
            }
            let (batch, replies): (Vec<Request>, Vec<Reply>) = batch.into_iter().unzip();
            let results = self.write(&batch).await;
            if results.iter().any(|r| matches!(r, Ok(Written::Stored))) && batch.iter().any(|r| r.row.queued) {
                // This replica's workers need not wait for the notice to come back from Postgres.
                self.wake.notify_one();
            }
            for (reply, result) in replies.into_iter().zip(results) {
                // The request may have gone (its client hung up); what was written stays written.
                let _ = reply.send(result);
            }
        }
    }

    async fn write(&self, batch: &[Request]) -> Vec<Result<Written, Arc<sqlx::Error>>> {
        match self.write_together(batch).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            // A constraint a row broke (its app deleted meanwhile, say): write each alone, so only it fails.
            Err(sqlx::Error::Database(e)) if batch.len() > 1 && !e.code().is_some_and(|c| unavailable_sqlstate(&c)) => {
                tracing::warn!(error = %e, rows = batch.len(), "a batch of accepted messages failed; writing them one by one");
                let mut results = Vec::with_capacity(batch.len());
                for request in batch {
                    results.push(match self.write_together(std::slice::from_ref(request)).await {
                        Ok(mut w) => Ok(w.pop().unwrap_or(Written::Stored)),
                        Err(e) => Err(Arc::new(e)),
                    });
                }
                results
            }
            Err(e) => {
                let e = Arc::new(e);
                batch.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }

    /// One transaction for the whole batch; one statement when there are no keys or quotas to check.
    async fn write_together(&self, batch: &[Request]) -> Result<Vec<Written>, sqlx::Error> {
        if batch.iter().all(|r| r.key.is_none() && r.quota.is_none()) {
            db::outbox::insert(&self.pool, &rows(batch.iter())).await?;
            return Ok(batch.iter().map(|_| Written::Stored).collect());
        }
        let mut tx = self.pool.begin().await?;

        // Quotas first: a request over its quota claims no key, so its retry is a new attempt.
        let asks: Vec<Ask> = batch.iter().filter_map(|r| r.quota).collect();
        let mut keys: Vec<_> = asks.iter().flat_map(Ask::keys).collect();
        keys.sort();
        keys.dedup();
        let usage = if keys.is_empty() { Vec::new() } else { db::quota::lock(&mut tx, &keys).await? };
        let mut verdicts = quota::admit(&asks, &usage).into_iter();
        let mut written: Vec<Written> = batch
            .iter()
            .map(|r| match r.quota.map(|_| verdicts.next().unwrap_or(Verdict::Admitted)) {
                Some(over @ Verdict::Over { .. }) => Written::OverQuota(over),
                _ => Written::Stored,
            })
            .collect();

        // Then keys: one claim per key (a duplicate within the batch waits for the first, as on another replica).
        let mut seen = HashSet::new();
        let mut claims = Vec::new();
        for (r, w) in batch.iter().zip(written.iter_mut()) {
            let Some(k) = r.key.as_ref().filter(|_| *w == Written::Stored) else { continue };
            if !seen.insert((r.row.app_id, k.key.as_str())) {
                *w = Written::KeyTaken;
                continue;
            }
            claims.push(NewKey {
                app_id: r.row.app_id,
                key: &k.key,
                hash: &k.hash,
                message_id: r.row.id,
                status: k.status,
                response: &k.response,
            });
        }
        if !claims.is_empty() {
            let claimed: HashSet<Uuid> =
                db::idempotency::claim(&mut tx, &claims, self.ttl).await?.into_iter().collect();
            for (r, w) in batch.iter().zip(written.iter_mut()) {
                if r.key.is_some() && *w == Written::Stored && !claimed.contains(&r.row.id) {
                    *w = Written::KeyTaken;
                }
            }
        }

        let stored = || batch.iter().zip(&written).filter(|(_, w)| **w == Written::Stored).map(|(r, _)| r);
        let added = quota::increments(stored().filter_map(|r| r.quota.as_ref()), &usage);
        db::quota::add(&mut tx, &added).await?;
        let rows = rows(stored());
        if !rows.is_empty() {
            db::outbox::insert(&mut *tx, &rows).await?;
        }
        tx.commit().await?;
        Ok(written)
    }
}

fn rows<'a>(requests: impl Iterator<Item = &'a Request>) -> Vec<NewRow<'a>> {
    requests
        .map(|r| NewRow {
            id: r.row.id,
            app_id: r.row.app_id,
            app_name: &r.row.app_name,
            mailbox: &r.row.mailbox,
            subject: &r.row.subject,
            recipients: r.row.recipients,
            queued: r.row.queued,
            payload: r.row.payload.as_ref(),
            channel: r.row.channel.as_str(),
            source_address: r.row.source_address.as_deref(),
            request_id: &r.row.request_id,
            detail: &r.row.detail,
            notify_done: r.row.notify_done,
            traceparent: r.row.traceparent.as_deref(),
        })
        .collect()
}
