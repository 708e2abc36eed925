//! Building the application: its shared state, the router with its middleware, and the served process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accept;
use crate::accept::refusal_budget::RefusalBudget;
use crate::audit_chain;
use crate::auth::CallerCache;
use crate::auth::entra::{EntraConfig, EntraValidator};
use crate::auth::failures::FailureLimiter;
use crate::body_budget::BodyBudget;
use crate::config::{EntraSettings, Settings};
use crate::db;
use crate::db::audit_reads::AuditReads;
use crate::delivery::service::Delivery;
use crate::delivery::{Events, GraphClient, GraphToken};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::policy::PolicyCache;
use crate::readiness::DatabaseCheck;
use crate::routes;
use crate::state::AppState;

pub mod edge;
mod listener;
mod unscoped;

pub fn router(state: AppState) -> Router {
    let api = routes::api();
    let mut openapi = api.openapi().clone();
    routes::openapi::complete(&mut openapi);
    let declared = Arc::new(routes::query::Declared::from_document(&openapi));
    let openapi = Arc::new(openapi.to_pretty_json().unwrap_or_default());
    // Every route, documented or not, is declared with who may call it; the guard refuses any that is not.
    let (api, access) = api.merge(routes::undocumented(openapi)).into_router();
    let access = Arc::new(access);
    let body_limit = state.settings.http.max_body_bytes;
    let http = state.settings.http.clone();
    let metrics = state.metrics.clone();
    let api = api
        // Route layers run outermost last: the guard authenticates, then undeclared query parameters are refused.
        .route_layer(axum::middleware::from_fn(move |request, next| {
            routes::query::refuse_undeclared(declared.clone(), request, next)
        }))
        .route_layer(axum::middleware::from_fn_with_state((state.clone(), access), routes::access::guard))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), routes::admin::forget_on_change))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response() })
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit));
    edge::layers(api, &http, metrics)
}

/// `mailgate serve`: migrate, start the workers and the listener, serve until SIGTERM or Ctrl-C.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db_auth = db::Auth::from_settings(&settings)?;
    let (pool, pooled) = db::connect_detecting(settings.db.url.expose_secret(), settings.db.max_connections, &db_auth)
        .await
        .context("connecting to DATABASE_URL")?;
    if pooled {
        tracing::info!("DATABASE_URL goes through a connection pooler: no statement is kept past its transaction");
    }
    let listen_pool = listen_pool(&settings, &pool, pooled, &db_auth).await?;
    if settings.db.migrate_on_start {
        db::migrate::at_start(
            &pool,
            pooled,
            settings.db.migration_url.as_ref().map(ExposeSecret::expose_secret),
            &db_auth,
        )
        .await?;
    }
    let metrics = Arc::new(Metrics::new(settings.telemetry.metrics_max_series));
    if let Some(meter) = crate::telemetry::meter() {
        metrics.export_over_otlp(meter);
    }
    let token = Arc::new(
        GraphToken::from_settings(
            &settings.credential.kind,
            settings.credential.authority.as_ref(),
            &settings.graph.scope,
            metrics.clone(),
        )
        .context("setting up the Graph credential (MAILGATE_CREDENTIAL)")?,
    );
    // Asked for at once and now and then, so that /readyz, which never asks itself, knows how it stands; a failure is
    // reported there (degraded), not fatal.
    tokio::spawn(token.clone().keep_checked());
    let audit = AuditReads::connect(&settings, &db_auth).await.context("setting up the audit reads' pool")?;
    let graph =
        GraphClient::new(settings.graph.url.clone(), settings.graph.timeout).context("building the HTTP client")?;
    let entra = match &settings.entra {
        Some(e) => Some(entra_validator(e).await?),
        None => None,
    };
    let policy = Arc::new(PolicyCache::new(settings.delivery.allow_unknown_mailboxes));
    unscoped::warn(&pool, &policy).await;
    let callers = Arc::new(CallerCache::default());
    let events = Events::new(policy.clone(), callers.clone());
    tokio::spawn(events.clone().listen(listen_pool));
    let accept = accept::Writer::start(pool.clone(), events.wake.clone(), settings.retention.idempotency_ttl);
    tokio::spawn(accept::purge_usage(pool.clone()));
    tokio::spawn(audit_chain::sealer::run(pool.clone(), settings.retention.audit_seal_interval));
    tokio::spawn(db::audit::keep_partitions(pool.clone()));

    let settings = Arc::new(settings);
    let delivery = Arc::new(Delivery {
        pool: pool.clone(),
        graph,
        token: token.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
        settings: settings.clone(),
    });
    let (stop, stopped) = watch::channel(false);
    let workers = tokio::spawn(delivery.run(stopped));

    let listener = TcpListener::bind(settings.http.listen)
        .await
        .with_context(|| format!("binding MAILGATE_LISTEN {}", settings.http.listen))?;
    let addr = listener.local_addr()?;
    let draining = Arc::new(AtomicBool::new(false));
    let auth_failures = Arc::new(FailureLimiter::new(
        settings.http.auth_failures_per_minute,
        settings.http.auth_failures_audited_per_minute,
    ));
    let body_budget = Arc::new(BodyBudget::new(
        settings.http.max_inflight_body_bytes,
        settings.http.max_body_bytes,
        settings.limits.large_messages,
        metrics.clone(),
    ));
    let refusals = Arc::new(RefusalBudget::new(settings.limits.app_refusals_per_minute));
    tokio::spawn(refusals.clone().keep_flushing(pool.clone()));
    let flush = (refusals.clone(), pool.clone());
    let header_read_timeout = settings.http.header_read_timeout;
    let state = AppState {
        pool,
        settings,
        policy,
        callers,
        accept,
        events,
        token,
        metrics,
        entra,
        draining: draining.clone(),
        auth_failures,
        audit,
        readiness: Arc::new(DatabaseCheck::default()),
        body_budget,
        refusals,
    };
    let signalled = shutdown_signal();
    // SMTP, when a listener is set, shares the state; it stops accepting when `smtp_stop` turns true.
    let (smtp_stop, smtp_stopped) = watch::channel(false);
    let smtp = match state.settings.smtp.clone() {
        Some(smtp) => Some(crate::smtp::start(state.clone(), smtp, smtp_stopped).await?),
        None => None,
    };
    for (scheme, addr) in smtp.iter().flat_map(|s| s.bound.iter()) {
        // Printed before the HTTP line, which scripts and tests wait for.
        println!("mailgate {scheme} listening on {addr}");
    }
    let grace = state.settings.delivery.shutdown_grace;
    // Scripts and tests read this line to learn the port.
    println!("mailgate listening on http://{addr}");
    tracing::info!(%addr, "listening");
    let drain_flag = draining.clone();
    let stopping = async move {
        signalled.await;
        // From here /readyz says not ready and new requests get 503, while the listener stops accepting connections.
        drain_flag.store(true, Ordering::SeqCst);
        let _ = smtp_stop.send(true);
        tracing::info!("SIGTERM: refusing new work, finishing sends in flight");
    };
    edge::log_panics();
    listener::serve(listener, router(state), header_read_timeout, stopping).await?;
    if let Some(smtp) = &smtp {
        // Sessions finish the transaction they are in, then answer 421.
        smtp.drain(grace).await;
    }
    // The refusals counted over the budget in minutes not yet over are recorded now, not lost with the process.
    flush.0.flush(&flush.1, true).await;
    tracing::info!("stopping: finishing sends in flight");
    let _ = stop.send(true);
    let _ = workers.await;
    Ok(())
}

/// Where notifications are listened for: a connection straight to Postgres, since LISTEN cannot work through a
/// transaction-mode pooler (the server connection it registered on goes back to the pool). DATABASE_URL's own pool
/// unless MAILGATE_LISTEN_DATABASE_URL is set; a pooler on either is a start-up error saying what to set.
async fn listen_pool(settings: &Settings, pool: &PgPool, pooled: bool, auth: &db::Auth) -> anyhow::Result<PgPool> {
    let Some(url) = &settings.db.listen_url else {
        anyhow::ensure!(
            !pooled,
            "DATABASE_URL reaches Postgres through a transaction-mode connection pooler (such as PgBouncer on port \
             6432), where LISTEN cannot work: set MAILGATE_LISTEN_DATABASE_URL to a direct connection to the same \
             database (on Azure Flexible Server, the same URL with port 5432)"
        );
        return Ok(pool.clone());
    };
    // One connection, held by the listener for as long as it listens.
    let (listen, listen_pooled) = db::connect_detecting(url.expose_secret(), 1, auth)
        .await
        .context("connecting to MAILGATE_LISTEN_DATABASE_URL")?;
    anyhow::ensure!(
        !listen_pooled,
        "MAILGATE_LISTEN_DATABASE_URL reaches Postgres through a connection pooler too, where LISTEN cannot work: it \
         must connect to the database directly (on Azure Flexible Server, port 5432, not the pooler's 6432)"
    );
    Ok(listen)
}

/// Fetches the tenant's signing keys now (a failure is reported by /readyz, not fatal) and keeps them fresh.
async fn entra_validator(e: &EntraSettings) -> anyhow::Result<EntraValidator> {
    let mut config = EntraConfig::new(e.tenant_id.clone(), e.audiences.clone());
    config.allowed_tenants = e.allowed_tenants.clone();
    config.authority_host = e.authority_host.clone();
    config.leeway = e.leeway;
    config.refresh_interval = e.refresh_interval;
    config.min_refetch_interval = e.min_refetch_interval;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let validator = EntraValidator::new(config, http).await;
    validator.spawn_refresh();
    Ok(validator)
}

/// SIGTERM or Ctrl-C. The handlers are installed when this is called, not when the future is first polled: a signal
/// that arrives while the router is still being built (SMTP already answers by then) must drain, not kill.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            };
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! { () = term => {}, () = interrupt => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
