//! The client layer: outgoing HTTP requests and gRPC calls.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Bytes, HttpBody};
use http::{Request, Response, Uri};
use opentelemetry::Context as OtelContext;
use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer};
use tower::{Layer, Service};

use super::exchange::{Exchange, Side};
use super::semconv::{ClientCall, Server};
use super::{ResponseFuture, init, propagation, semconv, switch};

/// A [`tower::Layer`] for outgoing requests: it opens a client span, injects its context
/// (`traceparent`, `tracestate`, `baggage`) into the request headers and records the
/// `http.client.request.duration` or `rpc.client.call.duration` histogram when the answer's
/// body ends. While telemetry is off it only injects the current context.
///
/// It wraps any `Service<http::Request<B>>`, such as a hyper client or a tonic channel. A
/// tonic channel sends requests whose URI is a path alone: name the channel's target with
/// [`ClientLayer::server`], so that the spans carry `server.address` and `server.port`.
///
/// ```no_run
/// use tonic::transport::Channel;
/// use tower::ServiceBuilder;
/// use ledger::telemetry::ClientLayer;
///
/// # fn connect() -> Result<(), tonic::transport::Error> {
/// let endpoint = Channel::from_static("http://localhost:9090");
/// let layer = ClientLayer::new().server(endpoint.uri().clone());
/// let channel = ServiceBuilder::new().layer(layer).service(endpoint.connect_lazy());
/// // Hand `channel` to a generated tonic client: `MyServiceClient::new(channel)`.
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientLayer {
    target: Option<Uri>,
    instruments: Arc<Instruments>,
}

/// The tracer and histograms every service of a [`ClientLayer`] records with.
#[derive(Debug)]
struct Instruments {
    tracer: BoxedTracer,
    http_duration: Histogram<f64>,
    rpc_duration: Histogram<f64>,
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientLayer {
    /// A client layer. Build it after [`init`](super::init): it takes its tracer and
    /// histograms from the global providers.
    #[must_use]
    pub fn new() -> Self {
        Self {
            target: None,
            instruments: Arc::new(Instruments {
                tracer: init::tracer(),
                http_duration: semconv::duration_histogram(
                    "http.client.request.duration",
                    "Duration of HTTP client requests.",
                    semconv::DURATION_BOUNDARIES,
                ),
                rpc_duration: semconv::duration_histogram(
                    "rpc.client.call.duration",
                    "Duration of gRPC calls made.",
                    semconv::DURATION_BOUNDARIES,
                ),
            }),
        }
    }

    /// Names the server that requests whose URI has no origin go to, such as the target of a
    /// tonic channel (`Endpoint::uri`). Default: none; the URI of each request decides.
    #[must_use]
    pub fn server(mut self, target: Uri) -> Self {
        self.target = Some(target);
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            target: self.target.clone(),
            instruments: Arc::clone(&self.instruments),
        }
    }
}

/// The service made by [`ClientLayer`].
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    target: Option<Uri>,
    instruments: Arc<Instruments>,
}

impl<S, B, ResBody> Service<Request<B>> for ClientService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: HttpBody<Data = Bytes>,
{
    type Response = Response<super::ResponseBody<ResBody>>;
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
        let instruments = &self.instruments;
        let start = Instant::now();
        let call = ClientCall::of(req.method(), req.uri(), req.headers());
        let server = Server::of(req.uri(), self.target.as_ref());
        let builder = instruments
            .tracer
            .span_builder(call.span_name())
            .with_kind(SpanKind::Client);
        let mut span = instruments
            .tracer
            .build_with_context(builder, &OtelContext::current());
        if span.is_recording() {
            let body_size = semconv::content_length(req.headers());
            span.set_attributes(call.span_attributes(&server, req.uri(), req.version(), body_size));
        }
        let (grpc, duration) = match &call {
            ClientCall::Http { .. } => (false, instruments.http_duration.clone()),
            ClientCall::Grpc { .. } => (true, instruments.rpc_duration.clone()),
        };
        let attributes = call.metric_attributes(&server, req.version());
        let exchange = Exchange::new(
            OtelContext::current_with_span(span),
            Side::Client,
            grpc,
            start,
            duration,
            attributes,
        );
        propagation::inject_context(exchange.context(), req.headers_mut());
        let inner = {
            let _attached = exchange.context().clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::traced(inner, exchange)
    }
}
