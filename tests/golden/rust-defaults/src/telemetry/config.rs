//! Settings of the telemetry pipeline and their generated defaults.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::sampling::RemoteSampling;
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
    #[must_use]
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
///     .with_environment("prod")
///     .with_sampling_ratio(0.25)
///     .with_shutdown_timeout(Duration::from_secs(2));
/// assert_eq!(config.sampling_ratio(), Some(0.25));
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    service_name: String,
    service_version: String,
    environment: Option<String>,
    team: String,
    owner: String,
    sampling_ratio: Option<f64>,
    max_root_traces_per_second: u32,
    remote_sampling: Option<RemoteSampling>,
    protocol: Protocol,
    grpc_endpoint: String,
    http_endpoint: String,
    export_timeout: Duration,
    max_queue_size: usize,
    max_export_batch_size: usize,
    schedule_delay: Duration,
    shutdown_timeout: Duration,
    admin_address: Option<String>,
    flags_file: Option<PathBuf>,
    flags_poll_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            service_name: defaults::SERVICE_NAME.to_owned(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            environment: None,
            team: defaults::TEAM.to_owned(),
            owner: defaults::OWNER.to_owned(),
            sampling_ratio: defaults::SAMPLING_RATIO_OVERRIDE,
            max_root_traces_per_second: defaults::MAX_ROOT_TRACES_PER_SECOND,
            remote_sampling: defaults::REMOTE_SAMPLING.then(RemoteSampling::default),
            protocol: defaults::PROTOCOL,
            grpc_endpoint: defaults::GRPC_ENDPOINT.to_owned(),
            http_endpoint: defaults::HTTP_ENDPOINT.to_owned(),
            export_timeout: defaults::EXPORT_TIMEOUT,
            max_queue_size: defaults::MAX_QUEUE_SIZE,
            max_export_batch_size: defaults::MAX_EXPORT_BATCH_SIZE,
            schedule_delay: defaults::SCHEDULE_DELAY,
            shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
            admin_address: Some(defaults::ADMIN_ADDRESS.to_owned()),
            flags_file: None,
            flags_poll_interval: defaults::FLAGS_POLL_INTERVAL,
        }
    }
}

impl Config {
    /// Sets `service.name`. Default: [`defaults::SERVICE_NAME`]; `OTEL_SERVICE_NAME` overrides
    /// it.
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Sets `service.version`. Default: the crate version from `Cargo.toml`.
    #[must_use]
    pub fn with_service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = version.into();
        self
    }

    /// Sets `deployment.environment.name`, which also picks the policy's sampling ratio.
    /// Default: the `deployment.environment.name` of `OTEL_RESOURCE_ATTRIBUTES`, else
    /// [`defaults::ENVIRONMENT`]. A value set here wins over `OTEL_RESOURCE_ATTRIBUTES`.
    #[must_use]
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Sets the owning team. Default: [`defaults::TEAM`].
    #[must_use]
    pub fn with_team(mut self, team: impl Into<String>) -> Self {
        self.team = team.into();
        self
    }

    /// Sets the owner contact. Default: [`defaults::OWNER`].
    #[must_use]
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Sets the probability with which a root span is sampled in every environment; a child
    /// span follows its parent's decision. Default: [`defaults::SAMPLING_RATIO_OVERRIDE`], and
    /// without it the policy's ratio for the environment ([`defaults::sampling_ratio_for`]).
    /// `OTEL_TRACES_SAMPLER` replaces the whole sampler; the admin endpoint and the flags file
    /// change the ratio at run time.
    #[must_use]
    pub fn with_sampling_ratio(mut self, ratio: f64) -> Self {
        self.sampling_ratio = Some(ratio.clamp(0.0, 1.0));
        self
    }

    /// Sets the most root traces sampled per second in this process; 0 lifts the limit.
    /// Default: [`defaults::MAX_ROOT_TRACES_PER_SECOND`].
    #[must_use]
    pub fn with_max_root_traces_per_second(mut self, limit: u32) -> Self {
        self.max_root_traces_per_second = limit;
        self
    }

    /// Samples root spans by the Jaeger remote sampling strategies of `remote`, or by ratio
    /// with `None`. Default: the policy's endpoint when [`defaults::REMOTE_SAMPLING`] is true.
    /// `OTEL_TRACES_SAMPLER=parentbased_jaeger_remote` turns it on at run time.
    #[must_use]
    pub fn with_remote_sampling(mut self, remote: Option<RemoteSampling>) -> Self {
        self.remote_sampling = remote;
        self
    }

    /// Sets the OTLP transport. Default: [`defaults::PROTOCOL`]; `OTEL_EXPORTER_OTLP_PROTOCOL`
    /// overrides it.
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the collector endpoint used over gRPC. Default: [`defaults::GRPC_ENDPOINT`];
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` overrides it.
    #[must_use]
    pub fn with_grpc_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.grpc_endpoint = endpoint.into();
        self
    }

    /// Sets the collector base URL used over HTTP; the signal path (`/v1/traces`) is appended.
    /// Default: [`defaults::HTTP_ENDPOINT`]; `OTEL_EXPORTER_OTLP_ENDPOINT` overrides it.
    #[must_use]
    pub fn with_http_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.http_endpoint = endpoint.into();
        self
    }

    /// Sets how long one export may take, retries included. Default:
    /// [`defaults::EXPORT_TIMEOUT`]; `OTEL_EXPORTER_OTLP_TIMEOUT` overrides it.
    #[must_use]
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// Sets how many finished spans or log records may wait for export; more are dropped,
    /// which bounds memory when the collector is slow or gone. Default:
    /// [`defaults::MAX_QUEUE_SIZE`]; `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BLRP_MAX_QUEUE_SIZE`
    /// override it.
    #[must_use]
    pub fn with_max_queue_size(mut self, size: usize) -> Self {
        self.max_queue_size = size;
        self
    }

    /// Sets the largest number of spans or log records in one export. Default:
    /// [`defaults::MAX_EXPORT_BATCH_SIZE`]; `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` and
    /// `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE` override it.
    #[must_use]
    pub fn with_max_export_batch_size(mut self, size: usize) -> Self {
        self.max_export_batch_size = size;
        self
    }

    /// Sets the delay between two scheduled exports. Default: [`defaults::SCHEDULE_DELAY`];
    /// `OTEL_BSP_SCHEDULE_DELAY` and `OTEL_BLRP_SCHEDULE_DELAY` override it.
    #[must_use]
    pub fn with_schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = delay;
        self
    }

    /// Sets the deadline for flushing and shutting down every provider together.
    /// Default: [`defaults::SHUTDOWN_TIMEOUT`].
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets the `host:port` of the admin listener, or turns it off with `None`. Default:
    /// [`defaults::ADMIN_ADDRESS`]; `TELEMETRY_ADMIN_ADDR` overrides it (`off` turns it off).
    #[must_use]
    pub fn with_admin_address(mut self, address: Option<String>) -> Self {
        self.admin_address = address;
        self
    }

    /// Sets the JSON flags file re-read every [`Config::flags_poll_interval`]. Default: none;
    /// `TELEMETRY_FLAGS_FILE` overrides it.
    #[must_use]
    pub fn with_flags_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.flags_file = Some(path.into());
        self
    }

    /// Sets how often the flags file is read. Default: [`defaults::FLAGS_POLL_INTERVAL`].
    #[must_use]
    pub fn with_flags_poll_interval(mut self, interval: Duration) -> Self {
        self.flags_poll_interval = interval;
        self
    }

    /// The `service.name` set in code.
    #[must_use]
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The `service.version` set in code.
    #[must_use]
    pub fn service_version(&self) -> &str {
        &self.service_version
    }

    /// The `deployment.environment.name` set in code, if any.
    #[must_use]
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// The owning team.
    #[must_use]
    pub fn team(&self) -> &str {
        &self.team
    }

    /// The owner contact.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The root sampling ratio set for every environment, if any.
    #[must_use]
    pub fn sampling_ratio(&self) -> Option<f64> {
        self.sampling_ratio
    }

    /// The most root traces sampled per second; 0 means no limit.
    #[must_use]
    pub fn max_root_traces_per_second(&self) -> u32 {
        self.max_root_traces_per_second
    }

    /// The remote sampling settings, when remote sampling is on.
    #[must_use]
    pub fn remote_sampling(&self) -> Option<&RemoteSampling> {
        self.remote_sampling.as_ref()
    }

    /// The OTLP transport chosen in code.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The collector endpoint for `protocol`, as chosen in code.
    #[must_use]
    pub fn endpoint(&self, protocol: Protocol) -> &str {
        match protocol {
            Protocol::Grpc => &self.grpc_endpoint,
            Protocol::HttpProtobuf => &self.http_endpoint,
        }
    }

    /// The export timeout.
    #[must_use]
    pub fn export_timeout(&self) -> Duration {
        self.export_timeout
    }

    /// The queue bound of spans and log records.
    #[must_use]
    pub fn max_queue_size(&self) -> usize {
        self.max_queue_size
    }

    /// The largest export batch.
    #[must_use]
    pub fn max_export_batch_size(&self) -> usize {
        self.max_export_batch_size
    }

    /// The delay between scheduled exports.
    #[must_use]
    pub fn schedule_delay(&self) -> Duration {
        self.schedule_delay
    }

    /// The shutdown deadline.
    #[must_use]
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// The admin listener's address set in code, if it is on.
    #[must_use]
    pub fn admin_address(&self) -> Option<&str> {
        self.admin_address.as_deref()
    }

    /// The flags file set in code, if any.
    #[must_use]
    pub fn flags_file(&self) -> Option<&Path> {
        self.flags_file.as_deref()
    }

    /// How often the flags file is read.
    #[must_use]
    pub fn flags_poll_interval(&self) -> Duration {
        self.flags_poll_interval
    }
}
