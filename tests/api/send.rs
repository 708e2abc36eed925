//! The send path: allowed, denied locally, denied by Exchange, and `Prefer: wait`.

use graph_sim::{AccessRight, Fault, SimPolicy};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, OUTSIDE, message, other_app};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::eventually;

#[sqlx::test]
async fn an_allowed_message_reaches_graph_once_with_graphs_json_and_a_managed_identity_token(pool: PgPool) {
    let app = spawn().start(pool).await;
    let body = json!({
        "from": ALLOWED,
        "to": ["someone@example.com", {"address": "boss@example.com", "name": "The Boss"}],
        "cc": ["cc@example.com"],
        "subject": "Nightly report",
        "html": "<p>All systems nominal.</p>",
        "headers": {"x-job": "nightly"},
        "importance": "high",
        "save_to_sent_items": false,
        "attachments": [{"name": "r.csv", "content_type": "text/csv", "content_base64": "YSxiCjEsMgo="}]
    });
    let r = app.post_message(&body).await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().expect("location").to_owned();
    let accepted: Value = r.json().await.expect("json");
    let id = accepted["id"].as_str().expect("id").to_owned();
    assert_eq!(accepted["status"], "queued");
    assert_eq!(location, format!("/v1/messages/{id}"));

    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "sent"]);
    let attempt = &done["events"][1];
    assert_eq!(attempt["http_status"], 202);
    assert_eq!(attempt["attempt"], 1);
    assert!(attempt["graph_request_id"].as_str().is_some_and(|s| !s.is_empty()), "{attempt}");
    assert!(attempt["latency_ms"].as_i64().is_some());

    let received = app.sim.sim.received();
    assert_eq!(received.len(), 1, "Graph got exactly one request");
    let got = &received[0];
    assert_eq!(got.mailbox, ALLOWED);
    assert_eq!(got.status, Some(202));
    assert_eq!(got.client_request_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        got.app_id.as_deref(),
        Some(graph_sim::SimConfig::default().app_id.as_str()),
        "token from the managed identity endpoint"
    );
    assert!(got.authorization.as_deref().is_some_and(|a| a.starts_with("Bearer sim-")), "{:?}", got.authorization);
    let expected = json!({
        "message": {
            "subject": "Nightly report",
            "body": {"contentType": "HTML", "content": "<p>All systems nominal.</p>"},
            "toRecipients": [
                {"emailAddress": {"address": "someone@example.com"}},
                {"emailAddress": {"address": "boss@example.com", "name": "The Boss"}}
            ],
            "ccRecipients": [{"emailAddress": {"address": "cc@example.com"}}],
            "importance": "high",
            "internetMessageHeaders": [{"name": "x-job", "value": "nightly"}],
            "attachments": [{
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "r.csv", "contentType": "text/csv", "contentBytes": "YSxiCjEsMgo=", "isInline": false
            }]
        },
        "saveToSentItems": false
    });
    assert_eq!(got.body, expected);

    let audited = app
        .count(&format!(
            "SELECT count(*) FROM audit_events WHERE message_id = '{id}' AND app_name = 'logic-app' AND mailbox = '{ALLOWED}'"
        ))
        .await;
    assert_eq!(audited, 2);
}

#[sqlx::test]
async fn the_graph_token_is_fetched_once_and_reused(pool: PgPool) {
    let app = spawn().start(pool).await;
    for _ in 0..3 {
        let id = app.send(&message(ALLOWED)).await;
        assert_eq!(app.wait_final(&id).await["status"], "sent");
    }
    assert_eq!(app.sim.sim.stats().accepted, 3);
    // Asked for once at start (so that readiness knows how it stands); every send reused it.
    assert_eq!(app.sim.sim.stats().token_requests, 1);
}

#[sqlx::test]
async fn a_local_denial_is_an_immediate_403_naming_the_policy_and_graph_hears_nothing(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = app.post_message(&message(OUTSIDE)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "policy_denied");
    assert_eq!(problem["decision"]["access"], "Denied");
    assert_eq!(problem["decision"]["rule"], "restrict_access_not_in_scope");
    assert_eq!(problem["decision"]["policy_id"], app.demo.policy_id.to_string());
    assert!(problem["detail"].as_str().expect("detail").contains("dl-graph-scope@contoso.test"), "{problem}");

    let id = problem["message_id"].as_str().expect("message id");
    let view = app.get_message(id).await;
    assert_eq!(view["status"], "denied");
    assert_eq!(TestApp::outcomes(&view), ["denied"]);
    assert_eq!(view["events"][0]["http_status"], 403);
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE payload IS NOT NULL").await, 0, "no content kept");
    // A later allowed message reaching Graph shows the workers have run past the denied one.
    let later = app.send(&message(ALLOWED)).await;
    assert_eq!(app.wait_final(&later).await["status"], "sent");
    let received = app.sim.sim.received();
    let ids: Vec<_> = received.iter().map(|r| r.client_request_id.as_deref()).collect();
    assert_eq!(ids, [Some(later.as_str())], "Graph must not be called for the denied message");
}

#[sqlx::test]
async fn an_exchange_denial_rejects_the_message_with_graphs_code(pool: PgPool) {
    let app = spawn().start(pool).await;
    // Exchange's real policy disagrees with the mirror: it denies the mailbox mailgate allows.
    let app_id = graph_sim::SimConfig::default().app_id;
    app.sim.sim.set_policies(vec![SimPolicy {
        app_id,
        access_right: AccessRight::DenyAccess,
        scope: vec![ALLOWED.to_owned()],
    }]);
    let id = app.send(&message(ALLOWED)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "rejected");
    assert_eq!(done["last_error"], "ErrorAccessDenied");
    assert_eq!(TestApp::outcomes(&done), ["queued", "exchange_denied"]);
    assert_eq!(done["events"][1]["http_status"], 403);
    assert_eq!(done["events"][1]["graph_code"], "ErrorAccessDenied");
    assert_eq!(app.sim.sim.received().len(), 1, "a denial is final: not retried");
}

#[sqlx::test]
async fn prefer_wait_returns_the_final_outcome(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("Prefer", "wait=10")
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["preference-applied"], "wait=10");
    let view: Value = r.json().await.expect("json");
    assert_eq!(view["status"], "sent");
    assert_eq!(TestApp::outcomes(&view), ["queued", "sent"]);
}

#[sqlx::test]
async fn prefer_wait_gives_up_after_the_wait_and_answers_202(pool: PgPool) {
    let app = spawn().start(pool).await;
    app.sim.sim.add_faults(ALLOWED, vec![Fault::Delay { ms: 3000 }]);
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("Prefer", "wait=1")
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let view: Value = r.json().await.expect("json");
    assert!(matches!(view["status"].as_str(), Some("queued" | "sending")), "{view}");
    let done = app.wait_final(view["id"].as_str().expect("id")).await;
    assert_eq!(done["status"], "sent");
}

#[sqlx::test]
async fn a_caller_cannot_read_another_apps_message(pool: PgPool) {
    let app = spawn().start(pool).await;
    let other_key = other_app(&app.pool, "other-app").await;
    let id = app.send(&message(ALLOWED)).await;
    let r = app.http.get(app.url(&format!("/v1/messages/{id}"))).bearer_auth(&other_key).send().await.expect("get");
    assert_eq!(r.status(), 404);
    let r = app.http.get(app.url("/v1/messages/not-a-uuid")).bearer_auth(&other_key).send().await.expect("get");
    assert_eq!(r.status(), 404);
    // An unrestricted app without any policy falls back to the tenant-wide grant, as Exchange does.
    let r = app.post_message_as(&other_key, &message(OUTSIDE)).await;
    assert_eq!(r.status(), 202);
}

#[sqlx::test]
async fn a_policy_change_decides_the_next_request(pool: PgPool) {
    let app = spawn().start(pool).await;
    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 403);
    let mut tx = app.pool.begin().await.expect("tx");
    mailgate::db::groups::add_member(&mut tx, crate::support::seed::SCOPE_GROUP, OUTSIDE).await.expect("add");
    tx.commit().await.expect("commit");
    // The running server learns of the change through NOTIFY; allow it a moment.
    let body = message(OUTSIDE);
    assert_eq!(eventually(202, || app.post_message(&body)).await.status(), 202);
}

#[sqlx::test]
async fn text_and_html_together_reach_graph_as_multipart_alternative(pool: PgPool) {
    let app = spawn().start(pool).await;
    let body = json!({"from": ALLOWED, "to": ["someone@example.com"], "subject": "Both", "text": "plain words", "html": "<p>rich words</p>"});
    let id = app.send(&body).await;
    assert_eq!(app.wait_final(&id).await["status"], "sent");
    let received = app.sim.sim.received();
    let mime = received[0].body["mime"].as_str().expect("sent as MIME");
    assert!(mime.contains("Content-Type: multipart/alternative"), "{mime}");
    assert!(mime.contains("plain words") && mime.contains("<p>rich words</p>"), "{mime}");
    assert!(mime.starts_with("From: notifications@contoso.test\r\nTo: someone@example.com\r\n"), "{mime}");
    assert_eq!(received[0].body["toRecipients"][0]["emailAddress"]["address"], "someone@example.com");
}

#[sqlx::test]
async fn five_hundred_named_recipients_reach_graph_in_folded_mime_it_reads_back(pool: PgPool) {
    let app = spawn().start(pool).await;
    let to: Vec<Value> = (0..500)
        .map(|i| {
            let name = if i % 2 == 0 {
                format!("Zoë Ünterwëger-Øster, Büro Zürich, Abteilung für Rechnungswesen Nummer {i}")
            } else {
                format!("A Recipient With A Display Name Long Enough To Need Its Own Line {i}")
            };
            json!({"address": format!("recipient.{i}@subsidiary.example.com"), "name": name})
        })
        .collect();
    let subject = "Relatório trimestral — résultats et prévisions 🎉";
    let body = json!({"from": ALLOWED, "to": to, "subject": subject, "text": "plain", "html": "<p>rich</p>"});
    let id = app.send(&body).await;
    assert_eq!(app.wait_final(&id).await["status"], "sent");

    let received = app.sim.sim.received();
    let record = &received[0].body;
    let mime = record["mime"].as_str().expect("sent as MIME");
    assert!(mime.split("\r\n").all(|line| line.len() <= 998), "a line over 998 octets");
    let head = mime.split("\r\n\r\n").next().unwrap_or_default();
    assert!(head.split("\r\n").all(|line| line.len() <= 78), "{head}");
    let read: Vec<Value> = record["toRecipients"]
        .as_array()
        .expect("recipients read back")
        .iter()
        .map(|r| json!({"address": r["emailAddress"]["address"], "name": r["emailAddress"]["name"]}))
        .collect();
    assert_eq!(read, to);
    assert_eq!(record["subject"], subject);
}
