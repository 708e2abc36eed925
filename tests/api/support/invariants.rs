//! What delivery must guarantee, checked after a fault test settles against the simulator's record of arrivals and
//! the database: nothing sent twice, nothing acknowledged lost.

use std::collections::BTreeSet;

use graph_sim::Fate;

use super::graph_sim::{arrivals, received_by_message};
use super::server::TestApp;

/// The delivery invariants every fault test ends on, from the simulator's record and the database:
/// the simulator saw no id twice and no id that was not acknowledged; every acknowledged message has a final
/// status in `allowed`, and each `sent` one was received exactly once, answered 202.
/// Returns the statuses of the acknowledged messages.
pub async fn assert_delivered_at_most_once(app: &TestApp, acknowledged: &[String], allowed: &[&str]) -> Vec<String> {
    let statuses = app.statuses().await;
    let received = received_by_message(&app.sim);
    let ours: BTreeSet<&str> = acknowledged.iter().map(String::as_str).collect();
    assert_eq!(ours.len(), acknowledged.len(), "an id was acknowledged twice");
    for (id, answers) in &received {
        assert!(ours.contains(id.as_str()), "the simulator received {id:?}, which was never acknowledged");
        assert_eq!(answers.len(), 1, "message {id} reached Graph {} times: {answers:?}", answers.len());
    }
    let mut out = Vec::with_capacity(acknowledged.len());
    for id in acknowledged {
        let status = statuses.get(id).unwrap_or_else(|| panic!("acknowledged message {id} is not in the database"));
        assert!(allowed.contains(&status.as_str()), "message {id} ended {status}, expected one of {allowed:?}");
        if status == "sent" {
            assert_eq!(received.get(id), Some(&vec![Some(202)]), "sent message {id} was not received once with 202");
        }
        out.push(status.clone());
    }
    out
}

/// What a crash may leave, checked against the simulator's arrival records and the database once everything
/// settled: no message reached Graph twice, nothing reached Graph that has no row, every acknowledged message has
/// its row and ends `sent` or `unknown`, each `sent` one reached Graph once and was answered 202, and a request the
/// crash cut off at Graph (abandoned, or answered into a dead connection) belongs to an `unknown` message.
/// Returns the ids that ended `unknown`.
pub async fn assert_crash_lost_and_doubled_nothing(app: &TestApp, acknowledged: &[String]) -> BTreeSet<String> {
    let statuses = app.statuses().await;
    let arrived = arrivals(&app.sim);
    for (id, requests) in &arrived {
        let fates: Vec<_> = requests.iter().map(|r| (r.status, r.fate)).collect();
        assert_eq!(requests.len(), 1, "message {id} reached Graph {} times: {fates:?}", requests.len());
        let status = statuses.get(id).unwrap_or_else(|| panic!("Graph received {id}, which has no row"));
        let request = &requests[0];
        match status.as_str() {
            "sent" => assert_eq!((request.status, request.fate), (Some(202), Fate::Answered), "sent {id}"),
            "unknown" => {}
            other => panic!("message {id} reached Graph and ended {other}: {fates:?}"),
        }
    }
    let mut unknown = BTreeSet::new();
    for id in acknowledged {
        let status = statuses.get(id).unwrap_or_else(|| panic!("acknowledged message {id} is not in the database"));
        match status.as_str() {
            "sent" => assert!(arrived.contains_key(id), "{id} is sent and Graph never saw it"),
            "unknown" => {
                unknown.insert(id.clone());
            }
            other => panic!("acknowledged message {id} ended {other}"),
        }
    }
    unknown
}
