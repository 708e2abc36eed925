//! Messages over Graph's 4 MB request limit: with MAILGATE_LARGE_MESSAGES=true, accepted up to
//! MAILGATE_MAX_MESSAGE_BYTES and delivered through a draft and upload sessions.

use base64::Engine;
use graph_sim::{Fault, GatewayBody, MAX_CHUNK_BYTES};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, message};
use crate::support::server::{TestApp, spawn};

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn with_attachment(bytes: &[u8]) -> Value {
    let mut m = message(ALLOWED);
    m["attachments"] = json!([
        {"name": "note.txt", "content_type": "text/plain", "content_base64": "aGVsbG8="},
        {"name": "scan.pdf", "content_type": "application/pdf",
         "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes)}
    ]);
    m
}

/// A mailgate that may use the draft path (it needs Mail.ReadWrite, so it is off unless turned on).
fn large() -> crate::support::server::Spawn {
    spawn().env("MAILGATE_LARGE_MESSAGES", "true")
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[sqlx::test]
async fn a_9_mb_attachment_is_delivered_through_a_draft_and_upload_sessions(pool: PgPool) {
    let app = large().start(pool).await;
    let bytes = content(9 * 1024 * 1024);
    let id = app.send(&with_attachment(&bytes)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "sent"]);

    let received = app.sim.sim.received();
    assert_eq!(received.len(), 1, "one send, no sendMail");
    let draft = received[0].draft.as_ref().expect("sent through a draft");
    assert_eq!(received[0].client_request_id.as_deref(), Some(id.as_str()));
    let vias: Vec<_> = draft.attachments.iter().map(|a| (a.name.as_str(), a.via.as_str())).collect();
    assert_eq!(vias, [("note.txt", "draft"), ("scan.pdf", "session")]);
    let scan = &draft.attachments[1];
    assert_eq!((scan.size, scan.sha256.clone()), (bytes.len() as u64, hex(&bytes)));
    let mut next = 0;
    for chunk in &scan.chunks {
        assert_eq!(chunk.start, next, "contiguous");
        assert!(chunk.end - chunk.start < MAX_CHUNK_BYTES as u64, "{chunk:?}");
        next = chunk.end + 1;
    }
    assert_eq!(next, bytes.len() as u64);

    let steps = app.sim.sim.draft_steps();
    assert!(steps.iter().all(|s| s.client_request_id.as_deref() == Some(id.as_str())), "{steps:?}");
    assert!(steps.iter().all(|s| s.had_authorization == (s.step != "upload")), "{steps:?}");
}

#[sqlx::test]
async fn a_message_over_the_size_limit_is_413_and_nothing_is_stored(pool: PgPool) {
    let app = large().env("MAILGATE_MAX_MESSAGE_BYTES", "5000000").start(pool).await;
    let r = app.post_message(&with_attachment(&content(5_000_000))).await;
    assert_eq!(r.status(), 413);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "message_too_large", "{problem}");
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    assert!(app.sim.sim.received().is_empty());
}

#[sqlx::test]
async fn a_429_on_a_chunk_is_retried_with_a_new_draft_and_sent(pool: PgPool) {
    let app = large().start(pool).await;
    // Faults are consumed in order by each step: the draft and the session pass, the first chunk is throttled.
    let pass = Fault::Delay { ms: 0 };
    app.sim.sim.add_faults(ALLOWED, vec![pass.clone(), pass, Fault::Throttle { retry_after_secs: Some(1) }]);
    let bytes = content(3_500_000);
    let id = app.send(&with_attachment(&bytes)).await;
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert_eq!(TestApp::outcomes(&done), ["queued", "throttled", "sent"]);
    assert_eq!(done["events"][1]["http_status"], 429);

    let steps: Vec<_> = app.sim.sim.draft_steps().into_iter().map(|s| (s.step, s.status)).collect();
    assert_eq!(steps.iter().filter(|(s, _)| s == "create").count(), 2, "the retry starts with a new draft");
    assert!(steps.contains(&("upload".to_owned(), Some(429))), "{steps:?}");
    let received = app.sim.sim.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].draft.as_ref().expect("draft").attachments[1].sha256, hex(&bytes));
    // The throttled attempt's draft was deleted, not left in Drafts with its attachments.
    assert!(steps.contains(&("delete".to_owned(), Some(204))), "{steps:?}");
    assert!(app.sim.sim.drafts().is_empty(), "{:?}", app.sim.sim.drafts());
}

#[sqlx::test]
async fn a_draft_graph_refused_to_send_is_deleted_and_one_that_may_be_sent_is_left_alone(pool: PgPool) {
    let app = large().start(pool).await;
    let pass = Fault::Delay { ms: 0 };
    // Each step takes the next fault: create, session and the one chunk pass, `/send` is refused outright, the
    // delete passes; for the next message create, session and chunk pass and a gateway answers `/send`.
    let refused = Fault::Status { status: 400, code: "ErrorInvalidRecipients".into(), message: "no".into() };
    let gateway = Fault::Gateway { status: 504, body: GatewayBody::Empty };
    let mut script = vec![pass.clone(); 3];
    script.extend([refused, pass.clone(), pass.clone(), pass.clone(), pass, gateway]);
    app.sim.sim.add_faults(ALLOWED, script);

    let first = app.send(&with_attachment(&content(3_500_000))).await;
    let done = app.wait_final(&first).await;
    assert_eq!(done["status"], "rejected", "{done}");
    assert!(app.sim.sim.drafts().is_empty(), "a draft that was not sent stays behind: {:?}", app.sim.sim.drafts());

    let second = app.send(&with_attachment(&content(3_500_000))).await;
    let done = app.wait_final(&second).await;
    assert_eq!(done["status"], "unknown", "{done}");
    // Graph may be sending it: deleting it could only lose the message.
    let left: Vec<_> = app.sim.sim.drafts().into_iter().map(|d| d.client_request_id).collect();
    assert_eq!(left, [Some(second)]);
    let deletes = app.sim.sim.draft_steps().into_iter().filter(|s| s.step == "delete").count();
    assert_eq!(deletes, 1);
}

#[sqlx::test]
async fn a_large_message_cannot_stay_out_of_sent_items(pool: PgPool) {
    let app = large().start(pool).await;
    let mut body = with_attachment(&content(5 * 1024 * 1024));
    body["save_to_sent_items"] = json!(false);
    let r = app.post_message(&body).await;
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(
        (problem["code"].as_str(), problem["field"].as_str()),
        (Some("invalid_field"), Some("save_to_sent_items"))
    );
    assert!(problem["detail"].as_str().unwrap_or_default().contains("Sent Items"), "{problem}");
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    // A message small enough for one sendMail keeps the choice.
    let mut small = with_attachment(&content(1024 * 1024));
    small["save_to_sent_items"] = json!(false);
    let id = app.send(&small).await;
    assert_eq!(app.wait_final(&id).await["status"], "sent");
    assert_eq!(app.sim.sim.received()[0].body["saveToSentItems"], false);
}

#[sqlx::test]
async fn without_large_messages_a_message_over_4_mb_is_413_naming_the_setting(pool: PgPool) {
    let app = spawn().start(pool).await;
    // Its body is over the limit read without large messages (Graph's request and room): refused by its length.
    let (status, problem) = app.client().post_declared("/v1/messages", 7 * 1024 * 1024).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["code"], "body_too_large", "{problem}");
    assert!(problem["detail"].as_str().unwrap_or_default().contains("MAILGATE_LARGE_MESSAGES=true"), "{problem}");
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    assert!(app.sim.sim.received().is_empty() && app.sim.sim.draft_steps().is_empty());
    // Under Graph's limit the setting changes nothing.
    assert_eq!(app.post_message(&with_attachment(&content(1024 * 1024))).await.status(), 202);
}
