//! `/v1/messages`: send a message, and read what became of it.

pub mod accept;
pub mod get;
pub mod idempotent;
pub mod post;
pub mod quota;
pub mod view;
pub mod wait;
