//! The server service.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{Request, Response};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::TraceContextExt;
use tower::Service;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::future::{Exchange, Side};
use super::layer::Settings;
use super::{ResponseFuture, defaults, propagation, semconv, switch};

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
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let parent = if self.settings.public_endpoint {
            opentelemetry::Context::new()
        } else {
            propagation::extract_context(req.headers())
        };
        let path = req.uri().path();
        let untraced = !switch::enabled()
            || semconv::is_untraced_grpc(path)
            || self
                .settings
                .untraced_routes
                .iter()
                .any(|route| route == path);
        if untraced {
            // Nothing is recorded, but the caller's context becomes current, so the calls made
            // for this request continue its trace.
            let inner = {
                let _attached = parent.clone().attach();
                self.inner.call(req)
            };
            return ResponseFuture::untraced(inner, Some(parent));
        }

        let start = Instant::now();
        // Set by axum when the layer wraps a Router's routes.
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|matched| matched.as_str().to_owned());
        let (span, attributes) =
            semconv::server_span(&req, route.as_deref(), &self.settings.captured_headers);
        let remote = if self.settings.public_endpoint {
            propagation::extract_context(req.headers())
        } else {
            parent.clone()
        };
        for &key in defaults::BAGGAGE_ATTRIBUTES {
            if let Some(value) = remote.baggage().get(key) {
                span.set_attribute(key, value.as_str().to_owned());
            }
        }
        if self.settings.public_endpoint {
            let remote = remote.span().span_context().clone();
            if remote.is_valid() {
                span.add_link(remote);
            }
        }
        // The parent must be set before the span is first entered. It fails when no
        // OpenTelemetry layer records the span (telemetry disabled, or the layer not
        // installed); the caller's context is then made current instead, as when untraced.
        let recorded = span.set_parent(parent.clone()).is_ok();
        let context = (!recorded).then_some(parent);

        let inner = {
            let _attached = context.clone().map(opentelemetry::Context::attach);
            span.in_scope(|| self.inner.call(req))
        };
        ResponseFuture::traced(
            inner,
            Exchange {
                span,
                side: Side::Server,
                start,
                duration: self.settings.duration.clone(),
                attributes,
            },
            context,
        )
    }
}
