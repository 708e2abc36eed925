//! Microsoft's Graph SDK for Python (msgraph-sdk from PyPI) as the client, its base URL pointed at mailgate: what
//! the SDK writes (`Message`, `SaveToSentItems`, `@odata.type`, lower-case enums, a percent-encoded mailbox) is
//! accepted, Graph receives the validated message, and a denial reaches the SDK as Graph's 403.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::python::venv_python;
use crate::support::seed::{ALLOWED, OUTSIDE};
use crate::support::server::spawn;

fn address(name: &str, address: &str) -> Value {
    json!({"emailAddress": {"address": address, "name": name}})
}

#[sqlx::test]
async fn microsofts_graph_sdk_sends_through_mailgate(pool: PgPool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_owned();
    let python = tokio::task::spawn_blocking({
        let root = root.clone();
        move || venv_python(&root, "scripts/sdk-env.sh")
    })
    .await
    .expect("sdk-env");
    let app = spawn().start(pool).await;

    let mut cmd = Command::new(&python);
    cmd.arg(root.join("tests/sdk/graph_sdk_send.py"))
        .env("MAILGATE_GRAPH_BASE", app.url("/v1.0"))
        .env("MAILGATE_API_KEY", &app.demo.key)
        .env("SDK_MAILBOX", ALLOWED)
        .env("SDK_DENIED_MAILBOX", OUTSIDE);
    // The simulator answers in this process: wait for the SDK off the runtime's thread.
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run the SDK script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the SDK script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let said: BTreeMap<String, Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .map(|v| (v["case"].as_str().expect("case").to_owned(), v))
        .collect();

    for case in ["text", "html", "cc_bcc", "reply_to", "attachments"] {
        assert_eq!(said[case]["outcome"], "accepted", "{case}: {}\n{}", said[case], app.logs());
    }
    let denied = &said["denied"];
    assert_eq!(
        (&denied["outcome"], &denied["status"], &denied["code"]),
        (&json!("odata_error"), &json!(403), &json!("ErrorAccessDenied"))
    );
    assert_eq!(denied["message"], "Access to OData is disabled.");
    let extended = &said["extended_property"];
    assert_eq!((&extended["status"], &extended["code"]), (&json!(400), &json!("RequestBodyRead")), "{extended}");
    assert!(extended["message"].as_str().expect("message").contains("singleValueExtendedProperties"));

    app.wait_settled(Duration::from_secs(30)).await;
    let received: BTreeMap<String, Value> = app
        .sim
        .sim
        .received()
        .into_iter()
        .map(|r| {
            assert_eq!((r.mailbox.as_str(), r.status), (ALLOWED, Some(202)), "{}", r.body);
            (r.body["message"]["subject"].as_str().expect("subject").to_owned(), r.body)
        })
        .collect();
    let subjects: Vec<&str> = received.keys().map(String::as_str).collect();
    assert_eq!(subjects, ["sdk attachments", "sdk cc bcc", "sdk html", "sdk reply to", "sdk text"]);

    let alice = json!([address("Alice", "alice@example.com")]);
    let text = &received["sdk text"];
    assert_eq!(
        text,
        &json!({"message": {"subject": "sdk text", "body": {"contentType": "Text", "content": "Plain words from the Graph SDK."},
            "toRecipients": alice}, "saveToSentItems": true})
    );
    let html = &received["sdk html"];
    assert_eq!(html["message"]["body"], json!({"contentType": "HTML", "content": "<p>Rich <b>words</b></p>"}));
    assert_eq!((&html["message"]["importance"], &html["saveToSentItems"]), (&json!("high"), &json!(false)));
    let cc = &received["sdk cc bcc"]["message"];
    assert_eq!(cc["ccRecipients"], json!([address("Bob", "bob@example.com"), address("Carol", "carol@example.com")]));
    assert_eq!(cc["bccRecipients"], json!([address("Audit", "audit@example.com")]));
    let reply = &received["sdk reply to"]["message"];
    assert_eq!(reply["replyTo"], json!([address("Helpdesk", "helpdesk@example.com")]));
    assert_eq!(reply["isDeliveryReceiptRequested"], true);
    let attachments = received["sdk attachments"]["message"]["attachments"].as_array().expect("attachments").clone();
    let decoded: Vec<(String, String, Vec<u8>)> = attachments
        .iter()
        .map(|a| {
            assert_eq!(a["@odata.type"], "#microsoft.graph.fileAttachment");
            let bytes = base64::engine::general_purpose::STANDARD.decode(a["contentBytes"].as_str().expect("b64"));
            (
                a["name"].as_str().expect("name").into(),
                a["contentType"].as_str().expect("type").into(),
                bytes.expect("b64"),
            )
        })
        .collect();
    assert_eq!(
        decoded,
        [
            ("report.csv".to_owned(), "text/csv".to_owned(), b"a,b\n1,2\n".to_vec()),
            ("blob.bin".to_owned(), "application/octet-stream".to_owned(), (0..=255u8).collect()),
        ]
    );
    // Only validated fields travel: the SDK's annotations stay behind, and so does everything mailgate refused.
    for body in received.values() {
        let text = body.to_string();
        assert!(!text.contains("#microsoft.graph.message") && !text.contains("Message\""), "{text}");
        assert!(!text.contains("ExtendedProperties") && !text.contains("X-Forged"), "{text}");
    }
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE status = 'denied'").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 6);
}
