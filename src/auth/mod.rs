//! Who is calling and what they may do: API keys and Entra ID tokens become a `Caller` with roles.

pub mod api_key;
pub mod authenticate;
pub mod cache;
pub mod caller;
pub mod entra;
pub mod failures;
pub mod roles;

pub use api_key::ApiKey;
pub use cache::CallerCache;
pub use caller::{AppQuota, Caller, CallerCredential};
pub use roles::Role;
