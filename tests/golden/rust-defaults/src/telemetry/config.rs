//! Settings of the telemetry pipeline and their generated defaults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{Error, defaults};

/// OTLP transport of the exporters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (`grpc`).
    Grpc,
    /// OTLP over HTTP with protobuf payloads (`http/protobuf`).
    HttpProtobuf,
}

impl Protocol {
    /// The name used by `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            other => Err(Error::UnsupportedProtocol(other.to_owned())),
        }
    }
}

/// Settings of [`init`](super::init).
///
/// `Config::default()` holds the values this service was generated with (see [`defaults`]);
/// the setters change them in code. Standard `OTEL_*` environment variables still win
/// over both at run time, see the [module guide](super#environment).
///
/// ```
/// use std::time::Duration;
/// use ledger::telemetry::Config;
///
/// let config = Config::default()
///     .with_sampling_ratio(0.25)
///     .with_shutdown_timeout(Duration::from_secs(2));
/// assert_eq!(config.sampling_ratio(), 0.25);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    service_name: String,
    service_version: String,
    environment: String,
    team: String,
    owner: String,
    sampling_ratio: f64,
    protocol: Protocol,
    grpc_endpoint: String,
    http_endpoint: String,
    export_timeout: Duration,
    max_queue_size: usize,
    max_export_batch_size: usize,
    schedule_delay: Duration,
    shutdown_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            service_name: defaults::SERVICE_NAME.to_owned(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            environment: defaults::ENVIRONMENT.to_owned(),
            team: defaults::TEAM.to_owned(),
            owner: defaults::OWNER.to_owned(),
            sampling_ratio: defaults::SAMPLING_RATIO,
            protocol: defaults::PROTOCOL,
            grpc_endpoint: defaults::GRPC_ENDPOINT.to_owned(),
            http_endpoint: defaults::HTTP_ENDPOINT.to_owned(),
            export_timeout: defaults::EXPORT_TIMEOUT,
            max_queue_size: defaults::MAX_QUEUE_SIZE,
            max_export_batch_size: defaults::MAX_EXPORT_BATCH_SIZE,
            schedule_delay: defaults::SCHEDULE_DELAY,
            shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
        }
    }
}

impl Config {
    /// Sets `service.name`. Default: `ledger`; `OTEL_SERVICE_NAME` overrides it.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Sets `service.version`. Default: the crate version from `Cargo.toml`.
    pub fn with_service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = version.into();
        self
    }

    /// Sets `deployment.environment.name`. Default: `dev`.
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }

    /// Sets the owning team (`acme.team`). Default: `platform`.
    pub fn with_team(mut self, team: impl Into<String>) -> Self {
        self.team = team.into();
        self
    }

    /// Sets the owner contact (`acme.owner`). Default: `platform@acme.example`.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Sets the probability with which a root span is sampled; a child span follows its
    /// parent's decision. Default: 1.0. `OTEL_TRACES_SAMPLER` replaces the whole
    /// sampler.
    pub fn with_sampling_ratio(mut self, ratio: f64) -> Self {
        self.sampling_ratio = ratio.clamp(0.0, 1.0);
        self
    }

    /// Sets the OTLP transport. Default: `grpc`;
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` overrides it.
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the collector endpoint used over gRPC. Default: `http://localhost:4317`;
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` overrides it.
    pub fn with_grpc_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.grpc_endpoint = endpoint.into();
        self
    }

    /// Sets the collector base URL used over HTTP; the signal path (`/v1/traces`) is appended.
    /// Default: `http://localhost:4318`; `OTEL_EXPORTER_OTLP_ENDPOINT` overrides it.
    pub fn with_http_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.http_endpoint = endpoint.into();
        self
    }

    /// Sets how long one export may take. Default: 5000 ms;
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` overrides it.
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// Sets how many finished spans may wait for export; spans beyond it are dropped, which
    /// bounds memory when the collector is slow or gone. Default: 2048.
    pub fn with_max_queue_size(mut self, size: usize) -> Self {
        self.max_queue_size = size;
        self
    }

    /// Sets the largest number of spans in one export. Default: 512.
    pub fn with_max_export_batch_size(mut self, size: usize) -> Self {
        self.max_export_batch_size = size;
        self
    }

    /// Sets the delay between two scheduled exports. Default: 5000 ms.
    pub fn with_schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = delay;
        self
    }

    /// Sets the deadline for flushing and shutting down every provider together.
    /// Default: 5000 ms.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The `service.name` set in code.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The `service.version` set in code.
    pub fn service_version(&self) -> &str {
        &self.service_version
    }

    /// The `deployment.environment.name`.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The owning team.
    pub fn team(&self) -> &str {
        &self.team
    }

    /// The owner contact.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The root span sampling ratio.
    pub fn sampling_ratio(&self) -> f64 {
        self.sampling_ratio
    }

    /// The OTLP transport chosen in code.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The collector endpoint for `protocol`, as chosen in code.
    pub fn endpoint(&self, protocol: Protocol) -> &str {
        match protocol {
            Protocol::Grpc => &self.grpc_endpoint,
            Protocol::HttpProtobuf => &self.http_endpoint,
        }
    }

    /// The export timeout.
    pub fn export_timeout(&self) -> Duration {
        self.export_timeout
    }

    /// The span queue bound.
    pub fn max_queue_size(&self) -> usize {
        self.max_queue_size
    }

    /// The largest export batch.
    pub fn max_export_batch_size(&self) -> usize {
        self.max_export_batch_size
    }

    /// The delay between scheduled exports.
    pub fn schedule_delay(&self) -> Duration {
        self.schedule_delay
    }

    /// The shutdown deadline.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }
}
