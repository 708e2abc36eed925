//! Who is calling: API keys today; every request handler receives an authenticated `Caller`.

pub mod api_key;
pub mod caller;

pub use api_key::ApiKey;
pub use caller::Caller;
