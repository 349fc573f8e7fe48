//! Tests of the telemetry module against in-memory exporters.
//!
//! The kill switch, the global propagator and the environment are process-wide, so every test
//! takes the [`harness`] lock and they run one at a time.

mod app;
mod client;
mod harness;
mod logs;
mod sampling;
mod server;
