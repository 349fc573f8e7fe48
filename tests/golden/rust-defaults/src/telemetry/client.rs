//! The client layer: outgoing HTTP requests and gRPC calls.

use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::metrics::Histogram;
use opentelemetry::{Context as OtelContext, global};
use tower::{Layer, Service};

use super::future::{Exchange, Side};
use super::init::SCOPE_NAME;
use super::{ResponseFuture, propagation, semconv, switch};

/// A [`tower::Layer`] for outgoing requests: it opens a client span, injects its context
/// (`traceparent`, `tracestate`, `baggage`) into the request headers and records the
/// `http.client.request.duration` histogram. While telemetry is off it only injects the
/// current context.
///
/// It wraps any `Service<http::Request<B>>`, such as a hyper client or a tonic channel:
///
/// ```no_run
/// use tonic::transport::Channel;
/// use tower::ServiceBuilder;
/// use ledger::telemetry::ClientLayer;
///
/// # async fn connect() -> Result<(), tonic::transport::Error> {
/// let channel = Channel::from_static("http://localhost:9090").connect().await?;
/// let channel = ServiceBuilder::new().layer(ClientLayer::new()).service(channel);
/// // Hand `channel` to a generated tonic client: `MyServiceClient::new(channel)`.
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientLayer {
    duration: Histogram<f64>,
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientLayer {
    /// A client layer. Build it after [`init`](super::init): it takes its histogram from the
    /// global meter provider.
    pub fn new() -> Self {
        let duration = global::meter(SCOPE_NAME)
            .f64_histogram("http.client.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP client requests.")
            .with_boundaries(semconv::DURATION_BOUNDARIES.to_vec())
            .build();
        Self { duration }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            duration: self.duration.clone(),
        }
    }
}

/// The service made by [`ClientLayer`].
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    duration: Histogram<f64>,
}

impl<S, B, ResBody> Service<Request<B>> for ClientService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !switch::enabled() || semconv::is_untraced_grpc(req.uri().path()) {
            // Nothing is recorded, but the current context still goes downstream.
            propagation::inject_context(&OtelContext::current(), req.headers_mut());
            return ResponseFuture::untraced(self.inner.call(req), None);
        }
        let start = Instant::now();
        let (span, attributes) = semconv::client_span(req.method(), req.uri(), req.headers());
        propagation::inject_context(
            &propagation::span_context_or_current(&span),
            req.headers_mut(),
        );
        let inner = span.in_scope(|| self.inner.call(req));
        ResponseFuture::traced(
            inner,
            Exchange {
                span,
                side: Side::Client,
                start,
                duration: self.duration.clone(),
                attributes,
            },
            None,
        )
    }
}
