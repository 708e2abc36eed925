//! `/v1/admin`: the CLI's operations over HTTP, for the `Admin` role.

pub mod apps;
pub mod keys;
pub mod sync;
