//! Login roles on the test server: the service login `mailgate serve` runs as, and others a test needs.

use std::time::Duration;

use reqwest::Url;
use sqlx::PgPool;

use super::wait::wait_until;

/// The login role `mailgate serve` runs as in these tests: a member of `mailgate_service`, the group role the
/// migrations grant to, as an operator would set it up. The `#[sqlx::test]` pool is the owner (it ran the migrations).
pub const SERVICE_LOGIN: &str = "mailgate_test_service";
const SERVICE_PASSWORD: &str = "mailgate-test-service";

/// `owner_url` with the service login's name and password instead, the login role made on that server if missing.
pub async fn service_url(pool: &PgPool, owner_url: &str) -> String {
    ensure_login(pool, SERVICE_LOGIN, SERVICE_PASSWORD, Some("mailgate_service")).await;
    with_login(owner_url, SERVICE_LOGIN, SERVICE_PASSWORD)
}

/// `url` connecting as `user` with `password`.
pub fn with_login(url: &str, user: &str, password: &str) -> String {
    let mut url = Url::parse(url).expect("a database URL");
    url.set_username(user).expect("a URL with a host");
    url.set_password(Some(password)).expect("a URL with a host");
    url.to_string()
}

/// Creates the login role `name` on `pool`'s server where missing, a member of `member_of` (itself made NOLOGIN where
/// missing, for databases not migrated yet). Roles are cluster-wide and tests make them concurrently: a role another
/// test made in the meantime is fine, and a conflict is retried.
pub async fn ensure_login(pool: &PgPool, name: &str, password: &str, member_of: Option<&str>) {
    let grant = member_of
        .map(|group| {
            format!(
                "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{group}') THEN
                     CREATE ROLE {group} NOLOGIN;
                 END IF;
                 IF NOT pg_has_role('{name}', '{group}', 'MEMBER') THEN
                     GRANT {group} TO {name};
                 END IF;"
            )
        })
        .unwrap_or_default();
    let sql = format!(
        "DO $$
         BEGIN
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
                 CREATE ROLE {name} LOGIN PASSWORD '{password}';
             END IF;
             {grant}
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$"
    );
    let made = || async {
        let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(pool).await;
        let member = match member_of {
            None => true,
            Some(group) => sqlx::query_scalar("SELECT pg_has_role($1, $2, 'MEMBER')")
                .bind(name)
                .bind(group)
                .fetch_one(pool)
                .await
                .unwrap_or(false),
        };
        done.is_ok() && member
    };
    // Another test making the same role at the same moment may fail this one's attempt: made once it is there.
    wait_until(&format!("login role {name} is made"), Duration::from_secs(10), made).await;
}
