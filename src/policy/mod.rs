//! The allowlist: a local mirror of Exchange Online's two models — Application Access Policies and RBAC for
//! Applications — and the decision they make together.

pub mod access_policy;
pub mod cache;
pub mod decide;
pub mod directory;
pub mod exchange_rbac;
pub mod load;
pub mod model;
pub mod opath;
pub mod scoping;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rbac_unknown;
#[cfg(test)]
mod tests_scoping;

pub use cache::PolicyCache;
pub use decide::{Access, Decision, Rule, decide};
pub use load::load;
pub use model::{AccessRight, AppSelector, Directory, Policy, PolicyScope, Snapshot};
