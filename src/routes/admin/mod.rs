//! `/v1/admin`: the CLI's operations over HTTP, for the `Admin` role.

pub mod apps;
pub mod groups;
pub mod keys;
pub mod mailboxes;
pub mod policies;
pub mod rbac;
pub mod sync;
