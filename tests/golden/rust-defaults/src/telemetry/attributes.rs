//! The organisation's attribute registry.
//!
//! One constant per attribute of the instrumentation policy; use them instead of string
//! literals so every service spells the names the same way. On the span of the request being
//! served, current in the OpenTelemetry context:
//!
//! ```
//! use opentelemetry::KeyValue;
//! use opentelemetry::trace::TraceContextExt;
//! use ledger::telemetry::attributes;
//!
//! let attribute = KeyValue::new(attributes::ACME_TEAM, "value");
//! opentelemetry::Context::current().span().set_attribute(attribute);
//! ```
//!
//! On a span of one's own, a `tracing` span, with `OpenTelemetrySpanExt::set_attribute`.

/// Team that owns the service.
///
/// Value type: `&str` / `String`.
pub const ACME_TEAM: &str = "acme.team";

/// Contact that answers for the service.
///
/// Value type: `&str` / `String`.
pub const ACME_OWNER: &str = "acme.owner";

/// Tenant on whose behalf a request runs.
///
/// Value type: `&str` / `String`.
pub const ACME_TENANT_ID: &str = "acme.tenant.id";

/// Scheduling priority of a request, 0 (lowest) to 9.
///
/// Value type: `i64`.
pub const ACME_REQUEST_PRIORITY: &str = "acme.request.priority";

/// Whether the request ran behind a feature flag.
///
/// Value type: `bool`.
pub const ACME_FEATURE_ENABLED: &str = "acme.feature.enabled";
