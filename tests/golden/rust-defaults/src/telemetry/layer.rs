//! The server layer.

use std::sync::Arc;

use http::HeaderName;
use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::Histogram;
use tower::Layer;

use super::{OtelService, defaults, init, semconv};

/// A [`tower::Layer`] that traces and measures every incoming HTTP or gRPC request.
///
/// For each request it extracts the caller's W3C context, opens a server span that becomes the
/// current span of the inner service and its response body, and records the
/// `http.server.request.duration` or `rpc.server.call.duration` histogram when the body ends.
/// See the [module guide](super) for names, attributes and redaction.
///
/// Build it after [`init`](super::init): it takes its tracer and histograms from the global
/// providers.
///
/// ```
/// use axum::{Router, routing::get};
/// use ledger::telemetry::OtelLayer;
///
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "order" }))
///     .layer(OtelLayer::new());
/// ```
#[derive(Clone, Debug)]
pub struct OtelLayer {
    pub(crate) settings: Arc<Settings>,
}

/// What [`OtelLayer`] shares with every service it makes.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) public_endpoint: bool,
    pub(crate) untraced_routes: Vec<String>,
    pub(crate) captured_headers: Vec<HeaderName>,
    pub(crate) tracer: Arc<BoxedTracer>,
    pub(crate) http_duration: Histogram<f64>,
    pub(crate) rpc_duration: Histogram<f64>,
}

impl Default for OtelLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl OtelLayer {
    /// A layer with the organisation's defaults.
    #[must_use]
    pub fn new() -> Self {
        Self {
            settings: Arc::new(Settings {
                public_endpoint: false,
                untraced_routes: defaults::UNTRACED_ROUTES
                    .iter()
                    .map(|route| (*route).to_owned())
                    .collect(),
                captured_headers: defaults::CAPTURED_REQUEST_HEADERS
                    .iter()
                    .map(|name| HeaderName::from_static(name))
                    .collect(),
                tracer: Arc::new(init::tracer()),
                http_duration: semconv::duration_histogram(
                    "http.server.request.duration",
                    "Duration of HTTP server requests.",
                    semconv::DURATION_BOUNDARIES,
                ),
                rpc_duration: semconv::duration_histogram(
                    "rpc.server.call.duration",
                    "Duration of gRPC calls served.",
                    semconv::DURATION_BOUNDARIES,
                ),
            }),
        }
    }

    /// Treats every request as coming from outside the organisation: the server span starts a
    /// new trace and links to the caller's context instead of joining it. Default: `false`.
    #[must_use]
    pub fn public_endpoint(mut self, public: bool) -> Self {
        self.settings_mut().public_endpoint = public;
        self
    }

    /// Sets the request paths that are never traced nor measured.
    /// Default: [`UNTRACED_ROUTES`](super::defaults::UNTRACED_ROUTES).
    #[must_use]
    pub fn untraced_routes<I, S>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.settings_mut().untraced_routes = routes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the request headers recorded as `http.request.header.<name>`.
    /// Default: [`CAPTURED_REQUEST_HEADERS`](super::defaults::CAPTURED_REQUEST_HEADERS).
    /// Headers in [`REDACTED_HEADERS`](super::defaults::REDACTED_HEADERS) are never recorded.
    #[must_use]
    pub fn capture_request_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = HeaderName>,
    {
        self.settings_mut().captured_headers = names.into_iter().collect();
        self
    }

    fn settings_mut(&mut self) -> &mut Settings {
        Arc::make_mut(&mut self.settings)
    }
}

impl<S> Layer<S> for OtelLayer {
    type Service = OtelService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OtelService::new(inner, Arc::clone(&self.settings))
    }
}
