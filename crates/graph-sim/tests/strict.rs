//! Where the simulator is as strict as Graph, or as unkind: a request is in its log from arrival (a client that
//! died is seen), an answer can be lost after the work is done, a gateway answers with its own page, a throttle
//! comes without `Retry-After`, and a property Graph does not know is refused.

// Each test file uses only some of what `common` holds.
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use common::*;
use graph_sim::{Fate, Fault, GatewayBody};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn a_request_is_in_the_log_from_its_arrival_and_stays_there_when_its_client_goes_away() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    h.sim.add_faults("slow@example.test", vec![Fault::Delay { ms: 60_000 }]);
    let url = send_url(&h, "slow@example.test");
    let client = tokio::spawn({
        let (c, t) = (c.clone(), t.clone());
        async move {
            c.post(url).bearer_auth(t).header("client-request-id", "gone-1").json(&mail("r@example.test")).send().await
        }
    });
    // Seen while Graph is still working on it.
    let sim = h.sim.clone();
    let arrived = wait_for(|| sim.received().first().is_some_and(|r| r.body != Value::Null)).await;
    assert!(arrived, "the request never showed up in the log");
    let rec = h.sim.received().remove(0);
    assert_eq!((rec.fate, rec.status, rec.client_request_id.as_deref()), (Fate::InProgress, None, Some("gone-1")));
    assert_eq!(rec.body, mail("r@example.test"));

    // The client dies: its connection closes, the server stops working on the request, the record stays.
    client.abort();
    let abandoned = wait_for(|| sim.received()[0].fate == Fate::Abandoned).await;
    assert!(abandoned, "the record did not turn abandoned: {:?}", h.sim.received());
    let rec = h.sim.received().remove(0);
    assert_eq!(rec.status, None);
    assert_eq!(h.sim.stats().accepted, 0);
}

/// Polls `check` for up to 10 s.
async fn wait_for(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

#[tokio::test]
async fn a_lost_answer_is_a_message_graph_accepted_and_its_client_never_heard_of() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    h.sim.add_faults("lost@example.test", vec![Fault::LoseAnswer]);
    let result = c.post(send_url(&h, "lost@example.test")).bearer_auth(&t).json(&mail("r@example.test")).send().await;
    assert!(result.is_err(), "{result:?}");
    let rec = h.sim.received().pop().expect("recorded");
    assert_eq!((rec.status, rec.fate), (Some(202), Fate::Dropped));
    assert_eq!(h.sim.stats().accepted, 1, "Graph has the message");
    // A refusal is refused all the same; only its answer is lost.
    h.sim.add_faults("lost@example.test", vec![Fault::LoseAnswer]);
    let result = c.post(send_url(&h, "lost@example.test")).bearer_auth(&t).json(&json!({"message": {}})).send().await;
    assert!(result.is_err(), "{result:?}");
    let rec = h.sim.received().pop().expect("recorded");
    assert_eq!((rec.status, rec.fate), (Some(400), Fate::Dropped));
    assert_eq!(h.sim.stats().accepted, 1);
}

#[tokio::test]
async fn a_gateway_answers_html_or_nothing_and_a_throttle_may_come_without_retry_after() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let mb = "gw@example.test";
    h.sim.add_faults(
        mb,
        vec![
            Fault::Gateway { status: 502, body: GatewayBody::Html },
            Fault::Gateway { status: 504, body: GatewayBody::Empty },
            Fault::Throttle { retry_after_secs: None },
        ],
    );
    let r = send(&c, &h, mb, Some(&t), &mail("r@example.test")).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(r.headers()["content-type"], "text/html");
    assert!(!r.headers().contains_key("request-id"), "a gateway does not speak for Graph");
    let page = r.text().await.expect("text");
    assert!(page.contains("<h1>502 Bad Gateway</h1>"), "{page}");
    assert!(serde_json::from_str::<Value>(&page).is_err());

    let r = send(&c, &h, mb, Some(&t), &mail("r@example.test")).await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(!r.headers().contains_key("content-type"));
    assert!(r.bytes().await.expect("body").is_empty());

    let r = send(&c, &h, mb, Some(&t), &mail("r@example.test")).await;
    assert!(!r.headers().contains_key("retry-after"));
    assert_eq!(graph_error(r, StatusCode::TOO_MANY_REQUESTS).await, "ApplicationThrottled");

    let log: Vec<_> = h.sim.received().into_iter().map(|r| (r.status, r.error_code, r.fate)).collect();
    assert_eq!(
        log,
        [
            (Some(502), None, Fate::Answered),
            (Some(504), None, Fate::Answered),
            (Some(429), Some("ApplicationThrottled".to_owned()), Fate::Answered)
        ]
    );
}

#[tokio::test]
async fn a_property_graph_does_not_know_is_refused_as_graph_refuses_it() {
    let h = start().await;
    let c = Client::new();
    let t = token_for(&c, &h, None).await;
    let mut typo = mail("r@example.test");
    typo["message"]["toRecipents"] = typo["message"]["toRecipients"].clone();
    let mut nested = mail("r@example.test");
    nested["message"]["body"]["format"] = json!("text");
    let mut param = mail("r@example.test");
    param["saveToDrafts"] = json!(true);
    for body in [typo, nested, param] {
        let r = send(&c, &h, "s@example.test", Some(&t), &body).await;
        assert_eq!(graph_error(r, StatusCode::BAD_REQUEST).await, "RequestBodyRead", "{body}");
    }
    // Names in any letter case and OData annotations are Graph's to read.
    let mut sdk = json!({"Message": mail("r@example.test")["message"].clone(), "SaveToSentItems": true});
    sdk["Message"]["@odata.type"] = json!("#microsoft.graph.message");
    assert_eq!(send(&c, &h, "s@example.test", Some(&t), &sdk).await.status(), StatusCode::ACCEPTED);
}
