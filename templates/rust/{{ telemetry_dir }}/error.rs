//! The error type of the telemetry module.

use std::fmt;
use std::time::Duration;

/// Why a setting was refused, or telemetry could not be shut down.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A name of an OTLP protocol this service is not built with.
    UnsupportedProtocol(String),
    /// A provider failed to flush or shut down.
    Shutdown(String),
    /// Flushing and shutting down did not finish within the deadline.
    ShutdownTimedOut(Duration),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnsupportedProtocol(name) => write!(
                f,
                "unsupported OTLP protocol {name:?}: use \"grpc\" or \"http/protobuf\""
            ),
            Error::Shutdown(reason) => write!(f, "telemetry shutdown failed: {reason}"),
            Error::ShutdownTimedOut(deadline) => {
                write!(f, "telemetry shutdown did not finish within {deadline:?}")
            }
        }
    }
}

impl std::error::Error for Error {}
