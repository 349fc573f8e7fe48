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
//! | Work handed to another task | [`spawn`] instead of `tokio::spawn` |
//!
//! Log with `tracing` as usual: every event is a JSON line on stdout in the policy's schema
//! ([`JsonLines`]), inside a request's span with its trace and span ids, and an OTLP log
//! record.
//!
//! # What the layers record
//!
//! Spans, metrics and their attributes follow the OpenTelemetry semantic conventions 1.43.0
//! ([`SCHEMA_URL`]), the way the organisation's Go services record them:
//!
//! - [`OtelLayer`] names an HTTP server span after the method and the route template axum
//!   matched (`GET /orders/{id}`), the method alone when there is no route (a 404, or a 405
//!   whose route does not take the method), and `HTTP` for a method outside the standard
//!   ones. It records the request (`http.request.method`, `url.path`, `url.query` with the
//!   values of [`defaults::REDACTED_QUERY_PARAMS`] replaced by `REDACTED`, `server.address`,
//!   `client.address`, `network.peer.address`, `user_agent.original`, the
//!   [`defaults::CAPTURED_REQUEST_HEADERS`] as `http.request.header.<name>` but never the
//!   [`defaults::REDACTED_HEADERS`], ...) and the answer (`http.response.status_code`,
//!   `http.response.body.size`, and for 5xx an error status and `error.type`). The span and
//!   the `http.server.request.duration` histogram end when the answer's body does.
//! - gRPC calls, on either side, follow the RPC conventions: the span is named after the
//!   fully qualified method (`package.Service/Method`), carries `rpc.system.name`,
//!   `rpc.method` and `rpc.response.status_code` (read from the trailers), and feeds
//!   `rpc.server.call.duration` or `rpc.client.call.duration`. Health checks are neither
//!   traced nor measured, nor are the requests to [`defaults::UNTRACED_ROUTES`].
//! - [`ClientLayer`] records the HTTP client conventions and the
//!   `http.client.request.duration` histogram; a tonic channel names its server with
//!   [`ClientLayer::server`].
//! - [`TracedClient`] records the same for `reqwest`, and sends a `User-Agent`.
//! - Attributes are built only for spans that record: an unsampled request costs its context
//!   and its metric.
//! - Spans made from `tracing` spans carry no code location, thread or busy time unless
//!   [`defaults::SPAN_EXTRA_ATTRIBUTES`] says so.
//!
//! The request span is an OpenTelemetry span, current in the OpenTelemetry context while the
//! request is served: add attributes to it with
//! `opentelemetry::Context::current().span().set_attribute(..)`.
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
//! | `RUST_LOG` | level of the JSON logs and of the exported log records (default `info`; the SDK and transport crates stay at `info` unless named) |

mod body;
mod client;
mod config;
mod error;
mod exchange;
mod exporters;
mod future;
mod guard;
mod init;
mod layer;
mod logs;
mod propagation;
mod resource;
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

pub use body::ResponseBody;
pub use client::{ClientLayer, ClientService};
pub use config::{Config, Protocol};
pub use error::Error;
pub use future::ResponseFuture;
pub use guard::TelemetryGuard;
pub use http_client::TracedClient;
pub use init::{
    SCHEMA_URL, SCOPE_NAME, Telemetry, environment, init, install_tls_provider, propagator,
    resource, sdk_disabled, tracer_provider, tracing_layer,
};
pub use layer::OtelLayer;
pub use logs::{BridgedRecords, JsonLines};
pub use propagation::{extract_context, inject_context, inject_headers, spawn};
pub use service::OtelService;
pub use switch::{
    KillSwitchFilter, KillSwitchSampler, enabled, sampling_ratio, set_enabled, set_sampling_ratio,
};
pub use tracecontext::TraceContextPropagator;
