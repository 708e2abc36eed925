//! The state every request handler shares: pools, caches, limiters and the services' handles, built once by
//! `startup` and cloned into each request.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::PgPool;

use crate::accept;
use crate::accept::refusal_budget::RefusalBudget;
use crate::auth::CallerCache;
use crate::auth::entra::EntraValidator;
use crate::auth::failures::FailureLimiter;
use crate::body_budget::BodyBudget;
use crate::config::Settings;
use crate::db::audit_reads::AuditReads;
use crate::delivery::{Events, GraphToken};
use crate::metrics::Metrics;
use crate::policy::PolicyCache;
use crate::readiness::DatabaseCheck;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub policy: Arc<PolicyCache>,
    /// Keys and apps seen recently.
    pub callers: Arc<CallerCache>,
    /// The group-commit writer accepted messages go through.
    pub accept: accept::Writer,
    pub events: Events,
    pub token: Arc<GraphToken>,
    pub metrics: Arc<Metrics>,
    pub entra: Option<EntraValidator>,
    /// Set on SIGTERM: new work is refused with 503 while sends in flight finish.
    pub draining: Arc<AtomicBool>,
    /// Failed authentications per source address.
    pub auth_failures: Arc<FailureLimiter>,
    /// The audit endpoints' own pool, on the primary or a standby.
    pub audit: AuditReads,
    /// The database check `/readyz` answers from.
    pub readiness: Arc<DatabaseCheck>,
    /// Request bodies held at once.
    pub body_budget: Arc<BodyBudget>,
    /// Refusals per app and minute recorded one by one.
    pub refusals: Arc<RefusalBudget>,
}

impl AppState {
    /// What accepting a message uses of this state.
    pub fn accepting(&self) -> accept::Context<'_> {
        accept::Context {
            pool: &self.pool,
            writer: &self.accept,
            done: &self.events.done,
            metrics: &self.metrics,
            refusals: &self.refusals,
            limits: self.settings.limits,
            idempotency_ttl: self.settings.retention.idempotency_ttl,
        }
    }
}
