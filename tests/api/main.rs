//! End-to-end tests: the real binary, a database per test, the Graph simulator on loopback.

mod admin;
mod audit;
mod auth;
mod bad_input;
mod cli;
mod crash;
mod delivery;
mod edge;
mod entra;
mod graph_compat;
mod guarantees;
mod health;
mod helpers;
mod large;
mod mirror;
mod openapi;
mod pg_restart;
mod process;
mod replicas;
mod roles;
mod send;
mod shutdown;
mod sync;
mod throttle;
