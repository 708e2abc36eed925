//! Load for the tests that need many senders: a batch posted with bounded concurrency, or posters that keep posting
//! until stopped (through a crash, a restart).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use super::client::{Posted, post_once};

/// Posts `n` messages (`body(i)`) with at most `concurrency` requests at a time, spread round-robin over `bases`;
/// returns every answer, in the order of `i`.
pub async fn post_concurrently(
    http: &reqwest::Client,
    bases: &[String],
    key: &str,
    n: usize,
    concurrency: usize,
    body: impl Fn(usize) -> Value,
) -> Vec<Posted> {
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let (http, base, key, body) = (http.clone(), bases[i % bases.len()].clone(), key.to_owned(), body(i));
        tasks.push(tokio::spawn(async move {
            let posted = post_once(&http, &base, &key, &body).await;
            drop(permit);
            posted
        }));
    }
    let mut out = Vec::with_capacity(n);
    for task in tasks {
        out.push(task.await.expect("sender task"));
    }
    out
}

/// The ids of the 202s; panics if any answer was something else, since these senders expect all to be accepted.
pub fn all_acknowledged(posted: &[Posted]) -> Vec<String> {
    let refused: Vec<&Posted> = posted.iter().filter(|p| !p.acknowledged()).collect();
    assert!(refused.is_empty(), "{} of {} posts were not accepted, e.g. {:?}", refused.len(), posted.len(), refused[0]);
    posted.iter().map(|p| p.id.clone().expect("a 202 has an id")).collect()
}

/// Posters that post until stopped, each logging every answer (a post cut off by a crash has no status).
pub struct Posters {
    pub log: Arc<Mutex<Vec<Posted>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Posters {
    pub fn start(
        http: &reqwest::Client,
        base: &str,
        key: &str,
        posters: usize,
        body: impl Fn(usize) -> serde_json::Value + Send + Sync + 'static,
    ) -> Posters {
        let log: Arc<Mutex<Vec<Posted>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let body = Arc::new(body);
        let tasks = (0..posters)
            .map(|p| {
                let (http, base, key, log, stop, body) =
                    (http.clone(), base.to_owned(), key.to_owned(), log.clone(), stop.clone(), body.clone());
                tokio::spawn(async move {
                    let mut i = p;
                    while !stop.load(Ordering::Relaxed) {
                        let posted = post_once(&http, &base, &key, &body(i)).await;
                        log.lock().await.push(posted);
                        i += posters;
                    }
                })
            })
            .collect();
        Posters { log, stop, tasks }
    }

    /// How many posts were answered 202 so far.
    pub async fn accepted(&self) -> usize {
        self.log.lock().await.iter().filter(|p| p.acknowledged()).count()
    }

    /// Stops posting; returns every answer.
    pub async fn stop(self) -> Vec<Posted> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("poster");
        }
        self.log.lock().await.clone()
    }
}
