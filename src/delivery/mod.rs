//! Delivery: workers take queued messages from the outbox and send them with Graph `sendMail`,
//! using mailgate's own identity, and record every attempt.

pub mod attempt;
pub mod credential;
pub mod events;
pub mod graph;
pub mod lease;
pub mod outcome;
pub mod recorder;
mod send_mail;
pub mod service;
pub mod upload;
pub mod worker;

pub use credential::GraphToken;
pub use events::Events;
pub use graph::GraphClient;
