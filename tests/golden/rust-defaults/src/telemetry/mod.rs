//! OpenTelemetry traces, metrics and trace-correlated JSON logs, set up the way the
//! organisation's instrumentation policy asks.
//!
//! # Wiring
//!
//! Call [`init`] once, early in `main` and inside the Tokio runtime, keep the returned
//! [`TelemetryGuard`] alive, and shut it down after the servers have stopped:
//!
//! ```no_run
//! use ledger::telemetry::{self, Config};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = telemetry::init(Config::default())?;
//! // ... serve until SIGTERM ...
//! telemetry.shutdown().await?;
//! # Ok(())
//! # }
//! ```
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
//! `trace_id` and `span_id`.
//!
//! # Server spans
//!
//! [`OtelLayer`] names a span `{method} {route}` with the route template
//! axum matched (`GET /orders/{id}`), the method alone when there is no route, and
//! `package.Service/Method` for gRPC. It records `http.request.method`, `http.route`,
//! `url.path`, `url.query` (values of [`defaults::REDACTED_QUERY_PARAMS`] replaced by
//! `REDACTED`), `http.request.header.<name>` for [`defaults::CAPTURED_REQUEST_HEADERS`] (never
//! for [`defaults::REDACTED_HEADERS`]), `http.response.status_code` and, for 5xx responses, an
//! error status and `error.type`. Requests to [`defaults::UNTRACED_ROUTES`] are neither traced
//! nor measured.
//!
//! # Environment
//!
//! Standard variables win over the values in [`Config`]:
//!
//! | Variable | Effect |
//! | --- | --- |
//! | `OTEL_SDK_DISABLED=true` | no exporter, no spans, no metrics; JSON logs stay |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | resource attributes |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf`) | transport, also per signal (`_TRACES_`, `_METRICS_`) |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TIMEOUT` | collector and export timeout, also per signal |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | replace the `parentbased_traceidratio` sampler |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, `none` |
//! | `RUST_LOG` | level of the JSON logs (default `info`) |
//!
//! # Kill switch
//!
//! [`set_enabled`]`(false)` stops all tracing and request metrics at once, without a restart;
//! see [`switch`].

mod client;
mod config;
mod error;
mod future;
mod guard;
mod init;
mod layer;
mod logs;
mod propagation;
mod semconv;
mod service;

pub mod attributes;
pub mod defaults;
mod http_client;
pub mod redact;
pub mod switch;

pub use client::{ClientLayer, ClientService};
pub use config::{Config, Protocol};
pub use error::Error;
pub use future::ResponseFuture;
pub use guard::TelemetryGuard;
pub use http_client::TracedClient;
pub use init::{
    SCOPE_NAME, init, propagator, resource, sampler, sdk_disabled, tracer_provider, tracing_layer,
};
pub use layer::OtelLayer;
pub use logs::JsonLogLayer;
pub use propagation::{extract_context, inject_context, inject_headers};
pub use service::OtelService;
pub use switch::{KillSwitchFilter, KillSwitchSampler, enabled, set_enabled};
