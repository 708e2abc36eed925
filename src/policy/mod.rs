//! The allowlist: a local mirror of Exchange Online's Application Access Policies, and how it decides.

pub mod cache;
pub mod decide;
pub mod model;

pub use cache::PolicyCache;
pub use decide::{Access, Decision, Rule, decide};
pub use model::{AccessRight, AppSelector, Directory, Policy, Snapshot};
