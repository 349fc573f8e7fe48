//! The values this service was generated with: its answers to the scaffold's questions and
//! the organisation's instrumentation policy.
//!
//! Change them through the template and the policy (`scaffold update`), not here, so that
//! every service keeps agreeing; [`Config`](super::Config) overrides them per service in code.

use std::time::Duration;

use super::Protocol;

/// `service.name`.
pub const SERVICE_NAME: &str = "ledger";

/// `service.namespace` shared by every service of the organisation.
pub const SERVICE_NAMESPACE: &str = "acme";

/// `deployment.environment.name` when neither the code nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const ENVIRONMENT: &str = "dev";

/// The owning team, recorded as `acme.team`.
pub const TEAM: &str = "platform";

/// The owner contact, recorded as `acme.owner`.
pub const OWNER: &str = "platform@acme.example";

/// The deployment environments of the organisation.
pub const ENVIRONMENTS: &[&str] = &["dev", "staging", "prod"];

/// Root sampling ratio in an environment the policy's table does not list.
pub const SAMPLING_RATIO: f64 = 0.1;

/// The root sampling ratio this service was generated with. When set, it replaces the
/// policy's table in every environment.
pub const SAMPLING_RATIO_OVERRIDE: Option<f64> = None;

/// The policy's root sampling ratio in `environment`; [`SAMPLING_RATIO`] for an environment
/// its table does not list.
#[allow(
    clippy::match_same_arms,
    reason = "one arm per environment of the policy's table, equal ratios or not"
)]
#[must_use]
pub fn sampling_ratio_for(environment: &str) -> f64 {
    match environment {
        "dev" => 1.0,
        "staging" => 1.0,
        "prod" => 1.0,
        _ => SAMPLING_RATIO,
    }
}

/// At most this many sampled root traces per second and process; 0 means no limit.
pub const MAX_ROOT_TRACES_PER_SECOND: u32 = 100;

/// Whether root spans are sampled by the Jaeger remote sampling strategies of
/// [`REMOTE_SAMPLING_ENDPOINT`].
pub const REMOTE_SAMPLING: bool = false;

/// Where the Jaeger remote sampling strategies are served.
pub const REMOTE_SAMPLING_ENDPOINT: &str = "http://localhost:5778/sampling";

/// How often the remote sampling strategy is fetched.
pub const REMOTE_SAMPLING_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// OTLP transport.
pub const PROTOCOL: Protocol = Protocol::Grpc;

/// Collector endpoint over gRPC.
pub const GRPC_ENDPOINT: &str = "http://localhost:4317";

/// Collector base URL over HTTP; the signal path is appended.
pub const HTTP_ENDPOINT: &str = "http://localhost:4318";

/// How long one export may take.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a failed export is retried.
pub const RETRY_ENABLED: bool = true;

/// Retries of one export: as many as fit in the policy's retry budget.
pub const RETRY_MAX_RETRIES: usize = 3;

/// Delay before the first retry; it doubles on each further one.
pub const RETRY_INITIAL_DELAY: Duration = Duration::from_millis(500);

/// Longest delay between two retries.
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(2);

/// Finished spans that may wait for export; more are dropped.
pub const MAX_QUEUE_SIZE: usize = 2048;

/// Largest number of spans in one export.
pub const MAX_EXPORT_BATCH_SIZE: usize = 512;

/// Delay between two scheduled exports.
pub const SCHEDULE_DELAY: Duration = Duration::from_secs(5);

/// Deadline for flushing and shutting every provider down.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Propagators used when `OTEL_PROPAGATORS` is unset.
pub const PROPAGATORS: &[&str] = &["tracecontext", "baggage"];

/// Request paths that are never traced (health checks and probes).
pub const UNTRACED_ROUTES: &[&str] = &["/healthz", "/readyz", "/livez"];

/// Request headers recorded as `http.request.header.<name>`.
pub const CAPTURED_REQUEST_HEADERS: &[&str] = &["user-agent", "x-request-id"];

/// Headers that are never recorded, whatever else asks for them.
pub const REDACTED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-api-key",
];

/// Query parameters whose values are replaced by `REDACTED` wherever a URL is recorded.
pub const REDACTED_QUERY_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "password",
    "secret",
    "sig",
];

/// Organisation attributes a request may carry as baggage members: the server span records
/// them, so a value set at the edge (a tenant, say) shows on every service's span.
pub const BAGGAGE_ATTRIBUTES: &[&str] = &["acme.team", "acme.owner", "acme.tenant.id"];

/// Key of the time (RFC 3339, UTC) in every JSON log line; the lines begin with it.
pub const TIME_KEY: &str = "time";

/// Key of the level in every JSON log line: `DEBUG`, `INFO`, `WARN` or `ERROR`.
pub const LEVEL_KEY: &str = "level";

/// Key of the message in every JSON log line.
pub const MESSAGE_KEY: &str = "msg";

/// Key of the service name in every JSON log line.
pub const SERVICE_NAME_KEY: &str = "service.name";

/// Key of the trace id in a JSON log line inside a span.
pub const TRACE_ID_KEY: &str = "trace_id";

/// Key of the span id in a JSON log line inside a span.
pub const SPAN_ID_KEY: &str = "span_id";

/// Key of the trace flags in a JSON log line inside a span.
pub const TRACE_FLAGS_KEY: &str = "trace_flags";

/// Whether spans made from `tracing` spans also record their code location, thread and
/// busy and idle times (`code.*`, `thread.*`, `busy_ns`, `idle_ns`, `target`).
pub const SPAN_EXTRA_ATTRIBUTES: bool = false;

/// Path of the admin endpoint that reads and changes the telemetry flags.
pub const ADMIN_PATH: &str = "/admin/telemetry";

/// Address of the admin listener; `TELEMETRY_ADMIN_ADDR` overrides it.
pub const ADMIN_ADDRESS: &str = "127.0.0.1:8081";

/// How often the flags file named by `TELEMETRY_FLAGS_FILE` is read again.
pub const FLAGS_POLL_INTERVAL: Duration = Duration::from_secs(2);
