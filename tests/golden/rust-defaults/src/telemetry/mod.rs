//! OpenTelemetry traces, metrics and logs, set up the way the organisation's
//! instrumentation policy asks.
//!
//! # Wiring
//!
//! Call [`init`] once, early in `main` and inside the Tokio runtime, keep the returned
//! [`TelemetryGuard`] alive, and shut it down after the servers have stopped:
//!
//! ```no_run
//! use ledger::telemetry::{self, Config};
//!
//! # async fn run() {
//! let telemetry = telemetry::init(Config::default());
//! // ... serve until SIGTERM ...
//! if let Err(err) = telemetry.shutdown().await {
//!     tracing::warn!(error = %err, "telemetry was not fully flushed");
//! }
//! # }
//! ```
//!
//! `init` never fails: a setting that cannot be honoured logs a warning and falls back, and
//! the service starts. An application that installs its own `tracing` subscriber adds
//! [`Telemetry::otel_layers`] (or [`Telemetry::layers`], JSON logs included) to it instead;
//! see [`Telemetry`].
//!
//! Then instrument each boundary:
//!
//! | Boundary | Use |
//! | --- | --- |
//! | HTTP server (axum) | `Router::layer(`[`OtelLayer::new()`]`)` |
//! | gRPC server (tonic) | `Server::builder().layer(`[`OtelLayer::new()`]`)` |
//! | HTTP client, gRPC channel | `ServiceBuilder::new().layer(`[`ClientLayer::new()`]`)` |
//! | reqwest | [`TracedClient`] |
//! | Hand-made requests | [`inject_headers`], [`extract_context`] |
//!
//! Log with `tracing` as usual: inside a request's span every JSON line carries
//! `trace_id` and `span_id`, and every event is
//! also exported as an OTLP log record.
//!
//! # Server spans
//!
//! [`OtelLayer`] names a span `{method} {route}` with the route template
//! axum matched (`GET /orders/{id}`), the method alone when there is no route, and
//! `package.Service/Method` for gRPC. It records `http.request.method`, `http.route`,
//! `url.path`, `url.query` (values of [`defaults::REDACTED_QUERY_PARAMS`] replaced by
//! `REDACTED`), `http.request.header.<name>` for [`defaults::CAPTURED_REQUEST_HEADERS`] (never
//! for [`defaults::REDACTED_HEADERS`]), `http.response.status_code` and, for 5xx responses, an
//! error status and `error.type`. Requests to [`defaults::UNTRACED_ROUTES`] and gRPC health
//! checks are neither traced nor measured.
//!
//! # Runtime control
//!
//! - Sampling is decided when the service starts, from the environment it runs in: the
//!   policy's whole table is compiled in ([`defaults::sampling_ratio_for`]), and
//!   [`environment`] picks the entry. See [`sampling`].
//! - The [kill switch](switch) and the sampling ratio change without a restart, through the
//!   [admin listener](admin) or a [flags file](flags).
//! - Off means "record nothing", never "forget the context": disabled or switched off, every
//!   boundary still extracts and injects `traceparent`, `tracestate` and `baggage`, so the
//!   traces of the services around this one stay connected.
//! - [`TraceContextPropagator`] implements W3C Trace Context Level 2.
//!
//! # Environment
//!
//! Standard variables win over the values in [`Config`]:
//!
//! | Variable | Effect |
//! | --- | --- |
//! | `OTEL_SDK_DISABLED=true` | no exporter, no spans, no metrics; JSON logs and propagation stay |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | resource attributes; `deployment.environment.name` picks the sampling ratio |
//! | `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER` | `otlp` (default), `console`, `none` |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf`) | transport, also per signal (`_TRACES_`, `_METRICS_`, `_LOGS_`) |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TIMEOUT` | collector (`https://` for TLS) and export timeout, also per signal |
//! | `OTEL_EXPORTER_OTLP_COMPRESSION` | `gzip` |
//! | `OTEL_BSP_*`, `OTEL_BLRP_*` | queue, batch size and delay of the span and log record processors |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | replace the policy's sampler, `parentbased_jaeger_remote` included |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, `none` |
//! | `TELEMETRY_ADMIN_ADDR`, `TELEMETRY_ADMIN_TOKEN` | the admin listener's address (`off`) and bearer token |
//! | `TELEMETRY_FLAGS_FILE` | a JSON flags file read every [`defaults::FLAGS_POLL_INTERVAL`] |
//! | `RUST_LOG` | level of the JSON logs and of the exported log records (default `info`) |

mod client;
mod config;
mod error;
mod exporters;
mod future;
mod guard;
mod init;
mod layer;
mod logs;
mod propagation;
mod semconv;
mod service;
mod tracecontext;

#[cfg(test)]
mod batch_variables;

pub mod admin;
pub mod attributes;
pub mod defaults;
pub mod flags;
mod http_client;
pub mod redact;
pub mod sampling;
pub mod switch;

pub use client::{ClientLayer, ClientService};
pub use config::{Config, Protocol};
pub use error::Error;
pub use future::ResponseFuture;
pub use guard::TelemetryGuard;
pub use http_client::TracedClient;
pub use init::{
    SCOPE_NAME, Telemetry, environment, init, propagator, resource, sdk_disabled, tracer_provider,
    tracing_layer,
};
pub use layer::OtelLayer;
pub use logs::JsonLogLayer;
pub use propagation::{extract_context, inject_context, inject_headers};
pub use service::OtelService;
pub use switch::{
    KillSwitchFilter, KillSwitchSampler, enabled, sampling_ratio, set_enabled, set_sampling_ratio,
};
pub use tracecontext::TraceContextPropagator;
