//! The simulator's draft path (draft, upload sessions, send), over a real loopback socket.

use graph_sim::{AccessRight, Fault, Sim, SimConfig, SimHandle, SimPolicy};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MAILBOX: &str = "big@contoso.test";
const MIB: usize = 1024 * 1024;

struct Ctx {
    h: SimHandle,
    c: Client,
    token: String,
}

async fn start() -> Ctx {
    let h = Sim::spawn(SimConfig::default()).await.expect("spawn sim");
    h.sim.set_mailboxes(&[MAILBOX]);
    let c = Client::new();
    let url = format!("{}?api-version=2019-08-01&resource=https://graph.microsoft.com", h.identity_endpoint());
    let r = c.get(url).header("X-IDENTITY-HEADER", "sim-identity-secret").send().await.expect("token");
    let token = r.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned();
    Ctx { h, c, token }
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Ctx {
    fn url(&self, tail: &str) -> String {
        format!("{}/v1.0/users/{MAILBOX}/{tail}", self.h.base_url())
    }

    async fn post(&self, tail: &str, body: Option<Value>) -> Response {
        let mut req = self.c.post(self.url(tail)).bearer_auth(&self.token).header("client-request-id", "cr-1");
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request")
    }

    async fn draft(&self) -> String {
        let message = json!({
            "subject": "Big",
            "body": {"contentType": "text", "content": "see attached"},
            "toRecipients": [{"emailAddress": {"address": "x@example.com"}}],
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "small.txt",
                             "contentType": "text/plain", "contentBytes": "aGk="}]
        });
        let r = self.post("messages", Some(message)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned()
    }

    async fn session(&self, draft: &str, size: usize) -> String {
        let item = json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": size}});
        let r = self.post(&format!("messages/{draft}/attachments/createUploadSession"), Some(item)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["nextExpectedRanges"], json!(["0-"]));
        assert!(v["expirationDateTime"].is_string());
        v["uploadUrl"].as_str().expect("uploadUrl").to_owned()
    }

    async fn put(&self, url: &str, data: &[u8], start: usize, total: usize) -> Response {
        let end = start + data.len() - 1;
        self.c
            .put(url)
            .header("Content-Range", format!("bytes {start}-{end}/{total}"))
            .body(data.to_vec())
            .send()
            .await
            .expect("put")
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn a_draft_with_an_uploaded_attachment_is_sent_and_recorded() {
    let x = start().await;
    let draft = x.draft().await;
    let bytes = data(5 * MIB + 17);
    let url = x.session(&draft, bytes.len()).await;
    let chunk = 3840 * 1024;
    let r = x.put(&url, &bytes[..chunk], 0, bytes.len()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["nextExpectedRanges"], json!([format!("{chunk}-")]));
    let r = x.put(&url, &bytes[chunk..], chunk, bytes.len()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(x.h.sim.received().is_empty(), "nothing is received before send");

    let r = x.post(&format!("messages/{draft}/send"), None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let received = x.h.sim.received();
    assert_eq!(received.len(), 1);
    let rec = &received[0];
    assert_eq!((rec.status, rec.client_request_id.as_deref()), (Some(202), Some("cr-1")));
    let d = rec.draft.as_ref().expect("came through a draft");
    assert_eq!(d.draft_id, draft);
    assert_eq!(d.attachment_bytes, bytes.len() as u64 + 2);
    let names: Vec<_> = d.attachments.iter().map(|a| (a.name.as_str(), a.via.as_str(), a.size)).collect();
    assert_eq!(names, [("small.txt", "draft", 2), ("big.bin", "session", bytes.len() as u64)]);
    assert_eq!(d.attachments[1].sha256, hex(&bytes));
    let ends: Vec<_> = d.attachments[1].chunks.iter().map(|c| (c.start, c.end)).collect();
    assert_eq!(ends, [(0, chunk as u64 - 1), (chunk as u64, bytes.len() as u64 - 1)]);
    assert_eq!(rec.body["message"]["subject"], "Big");
    assert_eq!(rec.body["message"]["attachments"][1]["name"], "big.bin");
    let stats = x.h.sim.stats();
    assert_eq!((stats.accepted, stats.send_requests, stats.draft_requests), (1, 1, 4));
    let steps: Vec<_> = x.h.sim.draft_steps().into_iter().map(|s| (s.step, s.had_authorization)).collect();
    let want = [("create", true), ("session", true), ("upload", false), ("upload", false), ("send", true)];
    assert_eq!(steps, want.map(|(s, a)| (s.to_owned(), a)));
}

#[tokio::test]
async fn upload_refusals_chunk_too_large_gap_and_authorization() {
    let x = start().await;
    let draft = x.draft().await;
    let total = 10 * MIB;
    let url = x.session(&draft, total).await;
    let r = x.put(&url, &data(4 * MIB + 1), 0, total).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let r = x.put(&url, &data(MIB), 0, total).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = x.put(&url, &data(MIB), 2 * MIB, total).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "InvalidRange");
    assert_eq!(v["nextExpectedRanges"], json!([format!("{MIB}-")]));

    let r =
        x.c.put(&url)
            .bearer_auth(&x.token)
            .header("Content-Range", format!("bytes {MIB}-{}/{total}", 2 * MIB - 1))
            .body(data(MIB))
            .send()
            .await
            .expect("put");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let wrong = url.replace("token=", "token=x");
    assert_eq!(x.put(&wrong, &data(MIB), MIB, total).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(x.put(&url, &data(MIB), MIB, total + 1).await.status(), StatusCode::BAD_REQUEST);
    // None of the refusals moved the session on.
    assert_eq!(x.put(&url, &data(MIB), MIB, total).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_draft_sent_twice_is_not_found_the_second_time() {
    let x = start().await;
    let draft = x.draft().await;
    assert_eq!(x.post(&format!("messages/{draft}/send"), None).await.status(), StatusCode::ACCEPTED);
    let r = x.post(&format!("messages/{draft}/send"), None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "ErrorItemNotFound");
    let statuses: Vec<_> = x.h.sim.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(202), Some(404)]);
    assert_eq!(x.h.sim.stats().accepted, 1);
}

#[tokio::test]
async fn faults_policies_and_session_sizes_apply_to_every_step() {
    let x = start().await;
    let draft = x.draft().await;
    let total = 3 * MIB;
    let url = x.session(&draft, total).await;
    x.h.sim.add_faults(MAILBOX, vec![Fault::Throttle { retry_after_secs: Some(3) }]);
    let r = x.put(&url, &data(total), 0, total).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(x.put(&url, &data(total), 0, total).await.status(), StatusCode::CREATED);

    let small = json!({"AttachmentItem": {"attachmentType": "file", "name": "a", "size": 1000}});
    let r = x.post(&format!("messages/{draft}/attachments/createUploadSession"), Some(small)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let code = r.json::<Value>().await.expect("json")["error"]["code"].clone();
    assert_eq!(code, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize");
    let posted = json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "b.txt", "contentBytes": "aGk="});
    assert_eq!(x.post(&format!("messages/{draft}/attachments"), Some(posted)).await.status(), StatusCode::CREATED);

    let app = "00000000-0000-0000-0000-00000000a11e";
    x.h.sim.set_policies(vec![SimPolicy {
        app_id: app.into(),
        access_right: AccessRight::DenyAccess,
        scope: vec![MAILBOX.into()],
    }]);
    let r = x.post("messages", Some(json!({"toRecipients": [{"emailAddress": {"address": "x@example.com"}}]}))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "ErrorAccessDenied");
    assert_eq!(x.post(&format!("messages/{draft}/send"), None).await.status(), StatusCode::FORBIDDEN);
    x.h.sim.set_policies(Vec::new());
    assert_eq!(x.post(&format!("messages/{draft}/send"), None).await.status(), StatusCode::ACCEPTED);
    let sent = x.h.sim.received().pop().expect("sent").draft.expect("draft");
    assert_eq!(sent.attachments.iter().map(|a| a.via.as_str()).collect::<Vec<_>>(), ["draft", "session", "post"]);
}

#[tokio::test]
async fn a_deleted_draft_is_gone_with_its_attachments() {
    let x = start().await;
    let kept = x.draft().await;
    let draft = x.draft().await;
    let url = x.session(&draft, 3 * MIB).await;
    let drafts = x.h.sim.drafts();
    assert_eq!(drafts.len(), 2);
    assert!(
        drafts.iter().all(|d| d.mailbox == MAILBOX && d.client_request_id.as_deref() == Some("cr-1")),
        "{drafts:?}"
    );

    let delete = |id: String| {
        let (c, url, token) = (x.c.clone(), x.url(&format!("messages/{id}")), x.token.clone());
        async move { c.delete(url).bearer_auth(token).send().await.expect("delete") }
    };
    let r = delete(draft.clone()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let left: Vec<_> = x.h.sim.drafts().into_iter().map(|d| d.draft_id).collect();
    assert_eq!(left, std::slice::from_ref(&kept));
    // Its upload session went with it, and so did the draft: neither takes anything any more.
    assert_eq!(x.put(&url, &data(3 * MIB), 0, 3 * MIB).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(x.post(&format!("messages/{draft}/send"), None).await.status(), StatusCode::NOT_FOUND);
    let r = delete(draft).await;
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "ErrorItemNotFound");
    let steps: Vec<_> = x.h.sim.draft_steps().into_iter().filter(|s| s.step == "delete").map(|s| s.status).collect();
    assert_eq!(steps, [Some(204), Some(404)]);

    // A sent draft leaves the Drafts folder too.
    assert_eq!(x.post(&format!("messages/{kept}/send"), None).await.status(), StatusCode::ACCEPTED);
    assert!(x.h.sim.drafts().is_empty());
}

#[tokio::test]
async fn every_draft_step_refuses_a_property_its_type_does_not_have() {
    let x = start().await;
    let code = |r: Response| async move {
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.expect("json");
        (v["error"]["code"].as_str().unwrap_or_default().to_owned(), v["error"]["message"].clone())
    };
    let typo =
        json!({"subject": "x", "toRecipients": [{"emailAddress": {"address": "x@example.com"}}], "bodyText": "x"});
    let (c, m) = code(x.post("messages", Some(typo)).await).await;
    assert_eq!(c, "RequestBodyRead");
    assert!(m.as_str().unwrap_or_default().contains("'bodyText'"), "{m}");
    let draft = x.draft().await;
    let posted = json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "b.txt", "contentBytes": "aGk=",
                        "inline": false});
    let (c, _) = code(x.post(&format!("messages/{draft}/attachments"), Some(posted)).await).await;
    assert_eq!(c, "RequestBodyRead");
    let item = json!({"AttachmentItem": {"attachmentType": "file", "name": "a", "size": 3 * MIB, "hash": "x"}});
    let (c, _) = code(x.post(&format!("messages/{draft}/attachments/createUploadSession"), Some(item)).await).await;
    assert_eq!(c, "RequestBodyRead");
    let extra = json!({"AttachmentItem": {"attachmentType": "file", "name": "a", "size": 3 * MIB}, "overwrite": true});
    let (c, m) = code(x.post(&format!("messages/{draft}/attachments/createUploadSession"), Some(extra)).await).await;
    assert_eq!(c, "RequestBodyRead");
    assert!(m.as_str().unwrap_or_default().contains("'createUploadSession'"), "{m}");
    // The parameter's name in another letter case is the same parameter.
    let cased = json!({"attachmentItem": {"AttachmentType": "file", "Name": "a", "Size": 3 * MIB}});
    let r = x.post(&format!("messages/{draft}/attachments/createUploadSession"), Some(cased)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_mailbox_outside_the_directory_has_no_drafts() {
    let x = start().await;
    let r =
        x.c.post(format!("{}/v1.0/users/ghost@contoso.test/messages", x.h.base_url()))
            .bearer_auth(&x.token)
            .json(&json!({"toRecipients": [{"emailAddress": {"address": "x@example.com"}}]}))
            .send()
            .await
            .expect("create");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "ErrorInvalidUser");
    assert!(x.h.sim.drafts().is_empty());
}
