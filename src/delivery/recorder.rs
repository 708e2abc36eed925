//! Attempt outcomes are written by one task per process, many to a transaction: whatever finished while the previous
//! batch was being written goes in the next one, so under load an outcome costs a fraction of a round trip.
//! A worker waits for its outcome to be written (or given up on) before it takes more work.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::db::delivery::{self, AttemptRecord};

/// At most this many outcomes per transaction.
const MAX_BATCH: usize = 256;
/// A Postgres outage shorter than their sum loses no outcome.
const PAUSES: [u64; 4] = [1, 2, 4, 8];

/// What became of a recorded outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Written: the claim still held the message.
    Held,
    /// Not written: the claim had lost the message (its lease expired); nothing changed.
    Lost,
    /// Postgres could not be reached, or refused the row; the message's lease will expire.
    Failed,
}

struct Pending {
    record: AttemptRecord,
    done: oneshot::Sender<Recorded>,
}

#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Recorder {
    /// Starts the writer. It ends once every clone of the returned `Recorder` is dropped and the queue is written.
    pub fn spawn(pool: PgPool) -> (Recorder, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Recorder { tx }, tokio::spawn(write_loop(pool, rx)))
    }

    pub async fn record(&self, record: AttemptRecord) -> Recorded {
        let (done, answer) = oneshot::channel();
        if self.tx.send(Pending { record, done }).is_err() {
            return Recorded::Failed;
        }
        answer.await.unwrap_or(Recorded::Failed)
    }
}

async fn write_loop(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        write(&pool, batch).await;
    }
}

async fn write(pool: &PgPool, batch: Vec<Pending>) {
    let records: Vec<AttemptRecord> = batch.iter().map(|p| p.record.clone()).collect();
    let mut pauses = PAUSES.iter();
    let outcome = loop {
        match delivery::record_attempts(pool, &records).await {
            Ok(held) => break Ok(held),
            Err(e) if !transient(&e) => break Err(e),
            Err(e) => match pauses.next() {
                Some(&pause) => {
                    tracing::warn!(error = %e, outcomes = records.len(), "could not record attempts; retrying");
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                }
                None => break Err(e),
            },
        }
    };
    match outcome {
        Ok(held) => {
            for p in batch {
                let answer = if held.contains(&p.record.id) { Recorded::Held } else { Recorded::Lost };
                let _ = p.done.send(answer);
            }
        }
        // One row the database refuses must not cost its neighbours their outcomes: write them one by one.
        Err(e) if !transient(&e) && batch.len() > 1 => {
            tracing::warn!(error = %e, outcomes = batch.len(), "a batch of attempts was refused; recording them singly");
            for p in batch {
                Box::pin(write(pool, vec![p])).await;
            }
        }
        Err(e) => {
            tracing::error!(error = %e, outcomes = batch.len(), "could not record attempts; their leases will expire");
            for p in batch {
                let _ = p.done.send(Recorded::Failed);
            }
        }
    }
}

/// Whether an error is the store being away (retry the same batch later) rather than the batch being refused.
fn transient(e: &sqlx::Error) -> bool {
    match e {
        // Connection problems, serialization failures and deadlocks, resources, the server shutting down.
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| ["08", "40", "53", "57", "58"].iter().any(|class| c.starts_with(class)))
        }
        sqlx::Error::Encode(_) | sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => false,
        _ => true,
    }
}
