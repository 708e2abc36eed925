//! The per-test database: its URL, and reads of the service's tables that tests assert on.

use std::collections::BTreeMap;

use reqwest::Url;
use sqlx::PgPool;

use super::server::TestApp;

/// The URL of the per-test database that `#[sqlx::test]` made, on the server DATABASE_URL names.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await.expect("db name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let mut url = Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl TestApp {
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&self.pool).await.expect("count")
    }

    /// Every message's status, by id.
    pub async fn statuses(&self) -> BTreeMap<String, String> {
        sqlx::query_as::<_, (String, String)>("SELECT id::text, status FROM messages")
            .fetch_all(&self.pool)
            .await
            .expect("statuses")
            .into_iter()
            .collect()
    }
}
