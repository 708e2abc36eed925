//! `/v1/messages`: send a message, and read what became of it.

pub mod get;
pub mod idempotent;
pub mod post;
pub mod view;
pub mod wait;
