//! Apps written against Graph point their base URL at mailgate: Graph's body in, Graph's answers out.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, OUTSIDE, SCOPE_GROUP, app_with_roles, other_app};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::{eventually, wait_until};

fn graph_body() -> Value {
    json!({
        "message": {
            "subject": "From an app written for Graph",
            "body": {"contentType": "Text", "content": "Hello"},
            "toRecipients": [{"emailAddress": {"address": "someone@example.com"}}],
            "isDeliveryReceiptRequested": true
        },
        "saveToSentItems": false
    })
}

async fn send_mail(app: &TestApp, key: Option<&str>, mailbox: &str, body: &Value) -> reqwest::Response {
    send_with(app, key, mailbox, body, None).await
}

async fn send_with(
    app: &TestApp,
    key: Option<&str>,
    mailbox: &str,
    body: &Value,
    idempotency_key: Option<&str>,
) -> reqwest::Response {
    let mut req = app.http.post(app.url(&format!("/v1.0/users/{mailbox}/sendMail"))).json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    req.send().await.expect("send")
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.expect("json")["error"].clone())
}

#[sqlx::test]
async fn the_same_202_and_graph_receives_the_validated_body(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = send_mail(&app, Some(&app.demo.key), ALLOWED, &graph_body()).await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().expect("location").to_owned();
    assert!(r.text().await.expect("body").is_empty(), "Graph's 202 has no body");
    let id = location.trim_start_matches("/v1/messages/").to_owned();
    assert_eq!(app.wait_final(&id).await["status"], "sent");
    let received = app.sim.sim.received();
    assert_eq!(received.len(), 1);
    // Every field of this body is one mailgate validates, so what Graph receives is what the caller wrote.
    assert_eq!(received[0].body, graph_body());
}

#[sqlx::test]
async fn graph_shaped_refusals(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = send_mail(&app, Some(&app.demo.key), OUTSIDE, &graph_body()).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ErrorAccessDenied");
    assert_eq!(body["error"]["message"], "Access to OData is disabled.");
    assert!(body["error"]["innerError"]["mailgateDetail"].as_str().expect("why").contains("RestrictAccess"));

    let r = send_mail(&app, None, ALLOWED, &graph_body()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "InvalidAuthenticationToken");

    let mut bad = graph_body();
    bad["message"]["toRecipients"] = json!([{"emailAddress": {"address": "not an address"}}]);
    let r = send_mail(&app, Some(&app.demo.key), ALLOWED, &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "ErrorInvalidRecipients");

    let mut bad = graph_body();
    bad["message"]["internetMessageHeaders"] = json!([{"name": "Reply-To", "value": "x@example.com"}]);
    let r = send_mail(&app, Some(&app.demo.key), ALLOWED, &bad).await;
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "InvalidInternetMessageHeader");

    // Headers Exchange trusts, in any letter case: refused as Graph refuses a header it will not take.
    for name in ["X-MS-Exchange-Organization-AuthAs", "x-forefront-antispam-report", "X-MICROSOFT-ANTISPAM"] {
        let mut bad = graph_body();
        bad["message"]["internetMessageHeaders"] =
            json!([{"name": "x-job", "value": "nightly"}, {"name": name, "value": "Internal"}]);
        let (status, error) = error_of(send_mail(&app, Some(&app.demo.key), ALLOWED, &bad).await).await;
        assert_eq!((status, error["code"].as_str()), (400, Some("InvalidInternetMessageHeader")), "{name}: {error}");
        assert!(error["message"].as_str().unwrap_or_default().contains(name), "{name}: {error}");
        assert_eq!(error["innerError"]["mailgateField"], format!("headers.{name}"), "{error}");
    }

    assert_eq!(app.count("SELECT count(*) FROM messages WHERE status <> 'denied'").await, 0);
    assert!(app.sim.sim.received().is_empty());
}

/// Add `mailbox` to the demo app's scope group and wait until the running server has seen the change.
async fn grant_demo(app: &TestApp, mailbox: &str) {
    let mut tx = app.pool.begin().await.expect("tx");
    mailgate::db::groups::add_member(&mut tx, SCOPE_GROUP, mailbox).await.expect("add");
    tx.commit().await.expect("commit");
    let admin = app.client_as(&app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await);
    wait_until(&format!("{mailbox} is granted"), std::time::Duration::from_secs(10), || async {
        let (_, decision) = admin.post("/v1/access/test", &json!({"app": "logic-app", "mailbox": mailbox})).await;
        decision["access_check_result"] == "Granted"
    })
    .await;
}

#[sqlx::test]
async fn one_idempotency_key_and_body_for_two_mailboxes_is_two_requests(pool: PgPool) {
    let app = spawn().start(pool).await;
    // An unrestricted app without policies may send as either mailbox.
    let key = other_app(&app.pool, "graph-app").await;
    let first = send_with(&app, Some(&key), ALLOWED, &graph_body(), Some("nightly-1")).await;
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].clone();

    let (status, error) = error_of(send_with(&app, Some(&key), OUTSIDE, &graph_body(), Some("nightly-1")).await).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("BadRequest")), "{error}");
    assert_eq!(error["innerError"]["mailgateCode"], "idempotency_key_reused");
    assert!(error["message"].as_str().expect("message").contains("different request"), "{error}");

    // The same mailbox, spelled as Graph's SDKs spell it, is the same request: the original answer again.
    let again = send_with(&app, Some(&key), "Notifications%40Contoso.test", &graph_body(), Some("nightly-1")).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.headers()["idempotency-replayed"], "true");

    app.wait_settled(std::time::Duration::from_secs(30)).await;
    let mailboxes: Vec<String> = app.sim.sim.received().into_iter().map(|r| r.mailbox).collect();
    assert_eq!(mailboxes, [ALLOWED]);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 1);
}

#[sqlx::test]
async fn from_or_sender_naming_another_mailbox_needs_the_allowlist_too(pool: PgPool) {
    let app = spawn().start(pool).await;
    let as_ceo = |field: &str| {
        let mut body = graph_body();
        body["message"][field] = json!({"emailAddress": {"address": "CEO@contoso.test", "name": "The CEO"}});
        body
    };
    for field in ["from", "sender"] {
        let (status, error) = error_of(send_mail(&app, Some(&app.demo.key), ALLOWED, &as_ceo(field)).await).await;
        assert_eq!((status, error["code"].as_str()), (403, Some("ErrorAccessDenied")), "{error}");
        assert_eq!(error["innerError"]["mailgateField"], format!("message.{field}"));
    }
    let denials =
        app.count("SELECT count(*) FROM audit_events WHERE outcome = 'denied' AND mailbox = 'ceo@contoso.test'").await;
    assert_eq!(denials, 2);
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);

    // The path's own mailbox in another letter case is not another mailbox.
    let mut own = graph_body();
    own["message"]["from"] = json!({"emailAddress": {"address": "Notifications@CONTOSO.test"}});
    assert_eq!(send_mail(&app, Some(&app.demo.key), ALLOWED, &own).await.status(), 202);

    // Once the mirror grants the CEO's mailbox as well, `from` goes to Graph, which checks Send As itself.
    grant_demo(&app, OUTSIDE).await;
    assert_eq!(send_mail(&app, Some(&app.demo.key), ALLOWED, &as_ceo("from")).await.status(), 202);
    app.wait_settled(std::time::Duration::from_secs(30)).await;
    // Two workers may deliver the two messages in either order.
    let mut froms: Vec<Value> = app.sim.sim.received().into_iter().map(|r| r.body["message"]["from"].clone()).collect();
    froms.sort_by_key(Value::to_string);
    assert_eq!(
        froms,
        [
            json!({"emailAddress": {"address": "ceo@contoso.test", "name": "The CEO"}}),
            json!({"emailAddress": {"address": "notifications@contoso.test"}}),
        ]
    );
}

#[sqlx::test]
async fn a_mailbox_by_object_id_is_the_same_mailbox_as_by_address(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    let id = "5c2b7e1a-9d3f-4e6a-8b1c-2d4e6f8a0b1c";
    let r = app
        .http
        .put(app.url(&format!("/v1/admin/mailboxes/{ALLOWED}")))
        .bearer_auth(&admin)
        .json(&json!({"object_id": id}))
        .send()
        .await
        .expect("put");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    let mut body = graph_body();
    body["message"]["from"] = json!({"emailAddress": {"address": ALLOWED}});
    // The directory change reaches the running server through NOTIFY.
    let mailbox = id.to_uppercase();
    let r = eventually(202, || send_mail(&app, Some(&app.demo.key), &mailbox, &body)).await;
    assert_eq!(r.status(), 202);
}

#[sqlx::test]
async fn graph_sdk_shapes_are_read_as_graph_reads_them(pool: PgPool) {
    let app = spawn().start(pool).await;
    let body = json!({
        "Message": {
            "@odata.type": "#microsoft.graph.message",
            "Subject": "Written by an SDK",
            "Body": {"@odata.type": "#microsoft.graph.itemBody", "ContentType": "html", "Content": "<p>hi</p>"},
            "ToRecipients": [{"@odata.type": "#microsoft.graph.recipient",
                "EmailAddress": {"@odata.type": "#microsoft.graph.emailAddress", "Address": "someone@example.com"}}],
            "importance": "LOW",
            "attachments@odata.context": "https://graph.microsoft.com/v1.0/$metadata#attachments",
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "Name": "a.txt", "ContentBytes": "aGk="}]
        },
        "SaveToSentItems": false
    });
    let r = send_mail(&app, Some(&app.demo.key), "notifications%40contoso.test", &body).await;
    assert_eq!(r.status(), 202);
    app.wait_settled(std::time::Duration::from_secs(30)).await;
    let received = app.sim.sim.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mailbox, ALLOWED);
    assert_eq!(
        received[0].body,
        json!({"message": {
            "subject": "Written by an SDK",
            "body": {"contentType": "HTML", "content": "<p>hi</p>"},
            "toRecipients": [{"emailAddress": {"address": "someone@example.com"}}],
            "importance": "low",
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt",
                "contentType": "application/octet-stream", "contentBytes": "aGk=", "isInline": false}]
        }, "saveToSentItems": false})
    );
}

#[sqlx::test]
async fn message_properties_mailgate_does_not_model_are_refused_by_name(pool: PgPool) {
    let app = spawn().start(pool).await;
    for (property, value) in [
        ("singleValueExtendedProperties", json!([{"id": "String 0x007D", "value": "Bcc: x@evil.test"}])),
        (
            "multiValueExtendedProperties",
            json!([{"id": "StringArray {00020329-0000-0000-C000-000000000046} Name x", "value": ["a"]}]),
        ),
        ("extensions", json!([{"@odata.type": "microsoft.graph.openTypeExtension", "extensionName": "x"}])),
        ("categories", json!(["Red"])),
    ] {
        let mut body = graph_body();
        body["message"][property] = value;
        let (status, error) = error_of(send_mail(&app, Some(&app.demo.key), ALLOWED, &body).await).await;
        assert_eq!((status, error["code"].as_str()), (400, Some("RequestBodyRead")), "{error}");
        assert!(error["message"].as_str().expect("message").contains(property), "{error}");
        assert_eq!(error["innerError"]["mailgateField"], format!("message.{property}"));
    }
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    assert!(app.sim.sim.received().is_empty());
}
