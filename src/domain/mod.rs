//! Domain types that cannot hold bad values; each is built by a `parse` that says what is wrong.

pub mod address;
pub mod channel;
pub mod error;
pub mod graph_request;
pub mod message;
pub mod mime;
pub mod policy;
pub mod schema;

pub use address::{EmailAddress, Mailbox};
pub use error::DomainError;
