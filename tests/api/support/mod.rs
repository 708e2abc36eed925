//! What the end-to-end tests share, one module per thing it owns. Tests import from the module that owns a helper.

pub mod audit;
pub mod client;
pub mod db;
pub mod graph_sim;
pub mod invariants;
pub mod load;
pub mod logins;
pub mod metrics;
pub mod outbox;
pub mod private_pg;
pub mod process;
pub mod python;
pub mod seed;
pub mod server;
pub mod wait;
