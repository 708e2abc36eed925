//! The handles the delivery loop (`worker.rs`) and each attempt (`attempt.rs`) share. Declared apart from both, so
//! an attempt does not import the loop that starts it.

use std::sync::Arc;

use sqlx::PgPool;

use super::{Events, GraphClient, GraphToken};
use crate::config::Settings;
use crate::metrics::Metrics;

pub struct Delivery {
    pub pool: PgPool,
    pub graph: GraphClient,
    pub token: Arc<GraphToken>,
    pub events: Events,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
}
