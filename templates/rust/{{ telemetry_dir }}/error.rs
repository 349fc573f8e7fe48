//! The error type of the telemetry module.

use std::fmt;
use std::time::Duration;

/// Why telemetry could not be set up or shut down.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` names a transport this service is not built with.
    UnsupportedProtocol(String),
    /// `OTEL_PROPAGATORS` names a propagator this service does not know.
    UnsupportedPropagator(String),
    /// An OTLP exporter rejected its configuration.
    Exporter(opentelemetry_otlp::ExporterBuildError),
    /// Another global `tracing` subscriber was installed first.
    Subscriber(tracing_subscriber::util::TryInitError),
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
            Error::UnsupportedPropagator(name) => write!(
                f,
                "unsupported propagator {name:?} in OTEL_PROPAGATORS: use tracecontext, baggage or none"
            ),
            Error::Exporter(err) => write!(f, "cannot build the OTLP exporter: {err}"),
            Error::Subscriber(err) => write!(f, "cannot install the tracing subscriber: {err}"),
            Error::Shutdown(reason) => write!(f, "telemetry shutdown failed: {reason}"),
            Error::ShutdownTimedOut(deadline) => {
                write!(f, "telemetry shutdown did not finish within {deadline:?}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Exporter(err) => Some(err),
            Error::Subscriber(err) => Some(err),
            _ => None,
        }
    }
}

impl From<opentelemetry_otlp::ExporterBuildError> for Error {
    fn from(err: opentelemetry_otlp::ExporterBuildError) -> Self {
        Error::Exporter(err)
    }
}

impl From<tracing_subscriber::util::TryInitError> for Error {
    fn from(err: tracing_subscriber::util::TryInitError) -> Self {
        Error::Subscriber(err)
    }
}
