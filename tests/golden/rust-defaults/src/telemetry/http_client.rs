//! An instrumented `reqwest` client.

use std::sync::Arc;
use std::time::Instant;

use http::Uri;
use http::header::{HeaderValue, USER_AGENT};
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer};
use reqwest::{IntoUrl, Request, RequestBuilder, Response};

use super::exchange::{Exchange, Side};
use super::semconv::{ClientCall, Server};
use super::{init, propagation, semconv, switch};

/// The `User-Agent` of requests that do not name their own: the service and its version.
const DEFAULT_USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// A [`reqwest::Client`] whose requests open a client span, carry its context downstream
/// (`traceparent`, `tracestate`, `baggage`) and feed the `http.client.request.duration`
/// histogram. While telemetry is off they carry the current context and record nothing.
///
/// A request without a `User-Agent` is sent with the service's own (`name/version`), so the
/// services it calls can tell who called. The span ends with the head of the answer.
///
/// Build the `reqwest::Client` after [`init`](super::init), which installs the TLS provider
/// it needs (or call [`install_tls_provider`](super::install_tls_provider) first).
///
/// ```no_run
/// use ledger::telemetry::TracedClient;
///
/// # async fn call() -> Result<(), reqwest::Error> {
/// let client = TracedClient::new(reqwest::Client::new());
/// let request = client.get("http://inventory:8080/items").build()?;
/// let response = client.execute(request).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TracedClient {
    inner: reqwest::Client,
    tracer: Arc<BoxedTracer>,
    duration: Histogram<f64>,
}

impl TracedClient {
    /// Wraps `inner`. Build it after [`init`](super::init): it takes its tracer and histogram
    /// from the global providers.
    #[must_use]
    pub fn new(inner: reqwest::Client) -> Self {
        Self {
            inner,
            tracer: Arc::new(init::tracer()),
            duration: semconv::duration_histogram(
                "http.client.request.duration",
                "Duration of HTTP client requests.",
                semconv::DURATION_BOUNDARIES,
            ),
        }
    }

    /// Starts a GET request; send it with [`TracedClient::execute`].
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.inner.get(url)
    }

    /// Sends `request` inside a client span.
    ///
    /// # Errors
    ///
    /// The [`reqwest::Error`] of a request that got no response. Its text names the URL:
    /// log `err.without_url()`, as the span does.
    pub async fn execute(&self, mut request: Request) -> reqwest::Result<Response> {
        if !request.headers().contains_key(USER_AGENT) {
            request
                .headers_mut()
                .insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
        }
        if !switch::enabled() {
            // Nothing is recorded, but the current context still goes downstream.
            propagation::inject_context(&Context::current(), request.headers_mut());
            return self.inner.execute(request).await;
        }
        let start = Instant::now();
        let uri: Uri = request.url().as_str().parse().unwrap_or_default();
        let call = ClientCall::of(request.method(), &uri, request.headers());
        let server = Server::of(&uri, None);
        let builder = self
            .tracer
            .span_builder(call.span_name())
            .with_kind(SpanKind::Client);
        let mut span = self.tracer.build_with_context(builder, &Context::current());
        if span.is_recording() {
            let body_size = request
                .body()
                .and_then(reqwest::Body::as_bytes)
                .and_then(|body| i64::try_from(body.len()).ok());
            span.set_attributes(call.span_attributes(&server, &uri, request.version(), body_size));
        }
        let mut exchange = Exchange::new(
            Context::current_with_span(span),
            Side::Client,
            false,
            start,
            self.duration.clone(),
            call.metric_attributes(&server, request.version()),
        );
        propagation::inject_context(exchange.context(), request.headers_mut());
        let result = self
            .inner
            .execute(request)
            .with_context(exchange.context().clone())
            .await;
        match &result {
            Ok(response) => exchange.on_response(response.status(), response.headers()),
            Err(err) => exchange.on_failure::<reqwest::Error>(failure(err)),
        }
        result
    }
}

/// What went wrong with a request that got no answer, in words that name no URL.
fn failure(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "the request timed out"
    } else if err.is_connect() {
        "the connection failed"
    } else {
        "the request failed"
    }
}
