//! mailgate: internal apps send mail through Microsoft Graph under a local allowlist that mirrors
//! Exchange Online's application access policies, with every outcome audited in Postgres.
#![forbid(unsafe_code)]

pub mod accept;
pub mod admin;
pub mod audit_chain;
pub mod auth;
pub mod body_budget;
pub mod cli;
pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod exchange_sync;
pub mod metrics;
pub mod policy;
pub mod readiness;
pub mod routes;
pub mod smtp;
pub mod startup;
pub mod state;
pub mod telemetry;
