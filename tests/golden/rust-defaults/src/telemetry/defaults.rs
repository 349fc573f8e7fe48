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

/// `deployment.environment.name`.
pub const ENVIRONMENT: &str = "dev";

/// The owning team, recorded as `acme.team`.
pub const TEAM: &str = "platform";

/// The owner contact, recorded as `acme.owner`.
pub const OWNER: &str = "platform@acme.example";

/// Probability with which a root span is sampled.
pub const SAMPLING_RATIO: f64 = 1.0;

/// OTLP transport.
pub const PROTOCOL: Protocol = Protocol::Grpc;

/// Collector endpoint over gRPC.
pub const GRPC_ENDPOINT: &str = "http://localhost:4317";

/// Collector base URL over HTTP; the signal path is appended.
pub const HTTP_ENDPOINT: &str = "http://localhost:4318";

/// How long one export may take.
pub const EXPORT_TIMEOUT: Duration = Duration::from_millis(5000);

/// Whether a failed export is retried.
pub const RETRY_ENABLED: bool = true;

/// Retries of one export: as many as fit in the policy's 5000 ms budget.
pub const RETRY_MAX_RETRIES: usize = 3;

/// Delay before the first retry; it doubles on each further one.
pub const RETRY_INITIAL_DELAY: Duration = Duration::from_millis(500);

/// Longest delay between two retries.
pub const RETRY_MAX_DELAY: Duration = Duration::from_millis(2000);

/// Finished spans that may wait for export; more are dropped.
pub const MAX_QUEUE_SIZE: usize = 2048;

/// Largest number of spans in one export.
pub const MAX_EXPORT_BATCH_SIZE: usize = 512;

/// Delay between two scheduled exports.
pub const SCHEDULE_DELAY: Duration = Duration::from_millis(5000);

/// Deadline for flushing and shutting every provider down.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(5000);

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

/// Key of the trace id in every JSON log record.
pub const TRACE_ID_KEY: &str = "trace_id";

/// Key of the span id in every JSON log record.
pub const SPAN_ID_KEY: &str = "span_id";

/// Path of the admin endpoint that reads and flips the telemetry kill switch.
pub const ADMIN_PATH: &str = "/admin/telemetry";
