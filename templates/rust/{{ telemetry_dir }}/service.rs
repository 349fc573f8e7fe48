//! The server service.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Bytes, HttpBody};
use http::{Request, Response};
use opentelemetry::trace::{Link, Span, SpanKind, TraceContextExt, Tracer};
use tower::Service;

use super::exchange::{Exchange, Side};
use super::layer::Settings;
use super::semconv::ServerCall;
use super::{ResponseFuture, propagation, semconv, switch};

/// The service made by [`OtelLayer`](super::OtelLayer).
#[derive(Clone, Debug)]
pub struct OtelService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> OtelService<S> {
    pub(crate) fn new(inner: S, settings: Arc<Settings>) -> Self {
        Self { inner, settings }
    }
}

impl<S, B, ResBody> Service<Request<B>> for OtelService<S>
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

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let settings = &self.settings;
        let caller = propagation::caller_context(req.headers());
        let path = req.uri().path();
        let untraced = !switch::enabled()
            || semconv::is_untraced_grpc(path)
            || settings.untraced_routes.iter().any(|route| route == path);
        if untraced {
            // Nothing is recorded, but the caller's context becomes current, so the calls made
            // for this request continue its trace.
            let Some(caller) = caller else {
                return ResponseFuture::untraced(self.inner.call(req), None);
            };
            let inner = {
                let _attached = caller.clone().attach();
                self.inner.call(req)
            };
            return ResponseFuture::untraced(inner, Some(caller));
        }

        let start = Instant::now();
        let remote = caller.unwrap_or_else(opentelemetry::Context::current);
        let call = ServerCall::of(&req);
        let parent = if settings.public_endpoint {
            opentelemetry::Context::new()
        } else {
            remote.clone()
        };
        let mut builder = settings
            .tracer
            .span_builder(call.span_name())
            .with_kind(SpanKind::Server);
        if settings.public_endpoint {
            let caller = remote.span().span_context().clone();
            if caller.is_valid() {
                builder = builder.with_links(vec![Link::with_context(caller)]);
            }
        }
        // The samplers decide on the trace id and the parent alone: the attributes are built
        // only for a span that records, so an unsampled request costs little more than its
        // metric.
        let mut span = settings.tracer.build_with_context(builder, &parent);
        if span.is_recording() {
            span.set_attributes(call.span_attributes(&req, &settings.captured_headers, &remote));
        }
        let cx = parent.with_span(span);
        let (grpc, duration) = match &call {
            ServerCall::Http { .. } => (false, settings.http_duration.clone()),
            ServerCall::Grpc { .. } => (true, settings.rpc_duration.clone()),
        };
        let mut exchange = Exchange::new(
            cx,
            Side::Server,
            grpc,
            start,
            duration,
            call.metric_attributes(&req),
        );
        if let ServerCall::Http { method, route } = call {
            exchange = exchange.with_route(method, route);
        }
        let inner = {
            let _attached = exchange.context().clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::traced(inner, exchange)
    }
}
