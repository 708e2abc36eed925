//! The demo tenant the tests start from: its mailboxes and scope group, the demo app with its policy, other apps
//! with keys, and a message body to send.

use mailgate::auth::ApiKey;
use mailgate::db;
use mailgate::db::policies::NewPolicy;
use mailgate::policy::{AccessRight, AppSelector, PolicyScope};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub const ALLOWED: &str = "notifications@contoso.test";
pub const OUTSIDE: &str = "ceo@contoso.test";
pub const SCOPE_GROUP: &str = "dl-graph-scope@contoso.test";

pub struct Demo {
    pub app_id: Uuid,
    pub key: String,
    pub policy_id: Uuid,
}

/// The seed article's scenario: `logic-app` restricted to a group that holds the notifications mailbox.
pub async fn seed_demo(pool: &PgPool) -> Demo {
    let app = db::apps::create(pool, &db::apps::NewApp { name: "logic-app", ..Default::default() }).await.expect("app");
    let key = ApiKey::generate();
    db::keys::insert(pool, app.id, key.prefix(), &key.digest(), None, None).await.expect("key");
    let group = db::groups::create(pool, SCOPE_GROUP, "", None).await.expect("group");
    let mut tx = pool.begin().await.expect("tx");
    db::groups::add_member(&mut tx, SCOPE_GROUP, ALLOWED).await.expect("member");
    let apps = AppSelector::Apps(vec![app.id]);
    let new = NewPolicy {
        apps: &apps,
        scope: &PolicyScope::Group(group.id),
        access_right: AccessRight::RestrictAccess,
        description: "demo",
    };
    let policy_id = db::policies::create(&mut tx, new).await.expect("policy");
    tx.commit().await.expect("commit");
    Demo { app_id: app.id, key: key.reveal().to_owned(), policy_id }
}

/// Another app with its own key and no policy of its own, marked unrestricted (an admin's choice): like an Exchange
/// app holding the tenant-wide grant with no policy, it may send as every mailbox no policy denies it.
pub async fn other_app(pool: &PgPool, name: &str) -> String {
    let key = app_with_roles(pool, name, &["Mail.Send"]).await;
    sqlx::query("UPDATE apps SET unrestricted = true WHERE name = $1").bind(name).execute(pool).await.expect("app");
    key
}

/// An app holding exactly these roles, and a key for it.
pub async fn app_with_roles(pool: &PgPool, name: &str, roles: &[&str]) -> String {
    let roles = Some(roles.iter().map(|r| (*r).to_owned()).collect());
    let app = db::apps::create(pool, &db::apps::NewApp { name, roles, ..Default::default() }).await.expect("app");
    let key = ApiKey::generate();
    db::keys::insert(pool, app.id, key.prefix(), &key.digest(), None, None).await.expect("key");
    key.reveal().to_owned()
}

/// A plain message from `from` to an outside recipient.
pub fn message(from: &str) -> Value {
    json!({
        "from": from,
        "to": ["someone@example.com"],
        "subject": "Nightly report",
        "text": "All systems nominal."
    })
}
