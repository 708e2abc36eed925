//! The sending app, as a deployment would set it up: an admin app and key from the command line, then over the
//! admin API the app `bench` with an API key, its mailboxes in the directory, a group holding them and a
//! RestrictAccess policy for the app on that group. Returns once the allowlist grants the app every mailbox.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::message;
use crate::services;

pub const APP: &str = "bench";

pub struct Sender {
    pub app_id: Uuid,
    pub key: String,
    pub mailboxes: Vec<String>,
}

pub async fn sender(service_url: &str, base: &str, mailboxes: usize) -> anyhow::Result<Sender> {
    services::cli(service_url, &["apps", "create", "bench-admin", "--roles", "Admin,Audit.Read"])?;
    let printed = services::cli(service_url, &["keys", "create", "bench-admin"])?;
    let admin_key = printed.lines().last().context("`mailgate keys create` printed no key")?.trim().to_owned();
    let admin = Admin { http: reqwest::Client::new(), base: base.to_owned(), key: admin_key };

    let app = admin.call(reqwest::Method::POST, "/v1/admin/apps", json!({ "name": APP })).await?;
    let app_id = app["id"].as_str().context("app without an id")?.parse()?;
    let issued = admin.call(reqwest::Method::POST, &format!("/v1/admin/apps/{APP}/keys"), json!({})).await?;
    let key = issued["key"].as_str().context("no key issued")?.to_owned();

    let mailboxes: Vec<String> = (0..mailboxes).map(message::mailbox).collect();
    let admin = &admin;
    futures::stream::iter(mailboxes.iter().enumerate())
        .map(|(i, mailbox)| async move {
            let entry = json!({
                "display_name": format!("Export service {i:03}"),
                "recipient_type_details": "SharedMailbox",
            });
            admin.call(reqwest::Method::PUT, &format!("/v1/admin/mailboxes/{mailbox}"), entry).await
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    admin.call(reqwest::Method::POST, "/v1/admin/groups", json!({ "address": message::SCOPE_GROUP })).await?;
    futures::stream::iter(mailboxes.iter())
        .map(|mailbox| async move {
            let path = format!("/v1/admin/groups/{}/members", message::SCOPE_GROUP);
            admin.call(reqwest::Method::POST, &path, json!({ "member": mailbox })).await
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    let policy = json!({
        "apps": [APP],
        "scope": message::SCOPE_GROUP,
        "access_right": "RestrictAccess",
        "description": "the export service's mailboxes",
    });
    admin.call(reqwest::Method::POST, "/v1/admin/policies", policy).await?;

    // Every replica reloads the allowlist within a second of a change; wait until this one has.
    let deadline = Instant::now() + Duration::from_secs(30);
    for mailbox in [&mailboxes[0], &mailboxes[mailboxes.len() - 1]] {
        loop {
            let test = json!({ "app": APP, "mailbox": mailbox });
            let answer = admin.call(reqwest::Method::POST, "/v1/access/test", test).await?;
            if answer["access_check_result"] == "Granted" {
                break;
            }
            if Instant::now() > deadline {
                bail!("the allowlist still does not grant {APP} {mailbox}: {answer}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(Sender { app_id, key, mailboxes })
}

struct Admin {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Admin {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let answer = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await?;
        let status = answer.status();
        let text = answer.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }
}
