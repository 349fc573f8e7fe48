//! An instrumented `reqwest` client.

use std::time::Instant;

use http::Uri;
use opentelemetry::metrics::Histogram;
use opentelemetry::{Context, global};
use reqwest::{IntoUrl, Request, RequestBuilder, Response};
use tracing::Instrument;

use super::future::{Exchange, Side};
use super::init::SCOPE_NAME;
use super::{propagation, semconv, switch};

/// A [`reqwest::Client`] whose requests open a client span, carry its context downstream
/// (`traceparent`, `tracestate`, `baggage`) and feed the `http.client.request.duration`
/// histogram. While telemetry is off they carry the current context and record nothing.
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
    duration: Histogram<f64>,
}

impl TracedClient {
    /// Wraps `inner`. Build it after [`init`](super::init): it takes its histogram from the
    /// global meter provider.
    pub fn new(inner: reqwest::Client) -> Self {
        let duration = global::meter(SCOPE_NAME)
            .f64_histogram("http.client.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP client requests.")
            .with_boundaries(semconv::DURATION_BOUNDARIES.to_vec())
            .build();
        Self { inner, duration }
    }

    /// Starts a GET request; send it with [`TracedClient::execute`].
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.inner.get(url)
    }

    /// Sends `request` inside a client span.
    ///
    /// # Errors
    ///
    /// The [`reqwest::Error`] of a request that got no response.
    pub async fn execute(&self, mut request: Request) -> reqwest::Result<Response> {
        if !switch::enabled() {
            // Nothing is recorded, but the current context still goes downstream.
            propagation::inject_context(&Context::current(), request.headers_mut());
            return self.inner.execute(request).await;
        }
        let start = Instant::now();
        let uri: Uri = request.url().as_str().parse().unwrap_or_default();
        let (span, attributes) = semconv::client_span(request.method(), &uri, request.headers());
        propagation::inject_context(
            &propagation::span_context_or_current(&span),
            request.headers_mut(),
        );
        let result = self.inner.execute(request).instrument(span.clone()).await;
        let exchange = Exchange {
            span,
            side: Side::Client,
            start,
            duration: self.duration.clone(),
            attributes,
        };
        match &result {
            Ok(response) => exchange.finish_response(response.status(), response.headers()),
            Err(err) => exchange.finish_error(err),
        }
        result
    }
}
