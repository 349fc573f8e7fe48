//! Tests of the telemetry module against in-memory exporters, and of the built service.
//!
//! The kill switch, the global propagator and the environment are process-wide, so every test
//! that uses them takes the [`harness`] lock and they run one at a time.

mod admin;
mod app;
mod client;
mod degrade;
mod harness;
mod logs;
mod propagation;
mod sampling;
mod server;
mod tracecontext;
