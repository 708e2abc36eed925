//! At every start, each unrestricted app is named in a warning (it may send as every mailbox no policy denies), and
//! the sending apps that nothing scopes are named once (they send as no mailbox): an upgrade or an import that left
//! an app so is seen in the log, not only in refusals.

use sqlx::PgPool;

use crate::db;
use crate::policy::PolicyCache;
use crate::policy::scoping::AppScope;

/// How many unscoped apps the warning names; the rest are counted.
const NAMED: usize = 20;

pub async fn warn(pool: &PgPool, policy: &PolicyCache) {
    let (apps, snapshot) = match (db::apps::list(pool).await, policy.get(pool).await) {
        (Ok(apps), Ok(snapshot)) => (apps, snapshot),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "could not read the apps to name the unrestricted and unscoped ones");
            return;
        }
    };
    let mut unscoped = Vec::new();
    for app in apps {
        let scoped = AppScope::lookup(&snapshot, app.id).is_scoped();
        if app.unrestricted {
            tracing::warn!(
                app = %app.name,
                scoped,
                "app {} is unrestricted: it may send as every mailbox no access policy denies it",
                app.name
            );
        } else if !scoped && app.roles.iter().any(|r| r == "Mail.Send") {
            unscoped.push(app.name);
        }
    }
    if !unscoped.is_empty() {
        let more = unscoped.len().saturating_sub(NAMED);
        let mut names = unscoped.iter().take(NAMED).cloned().collect::<Vec<_>>().join(", ");
        if more > 0 {
            names.push_str(&format!(" and {more} more"));
        }
        tracing::warn!(
            count = unscoped.len(),
            "apps named by no access policy or role assignment of their own send as no mailbox until scoped or \
             marked unrestricted: {names}"
        );
    }
}
