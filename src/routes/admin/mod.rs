//! `/v1/admin`: the CLI's operations over HTTP, for the `Admin` role.

pub mod apps;
pub mod exchange_rbac;
pub mod exchange_sync;
pub mod groups;
pub mod keys;
pub mod mailboxes;
pub mod policies;
