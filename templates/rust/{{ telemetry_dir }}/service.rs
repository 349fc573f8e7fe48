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
        let path = req.uri().path();
        if !switch::enabled()
            || self
                .settings
                .untraced_routes
                .iter()
                .any(|route| route == path)
        {
            return ResponseFuture::untraced(self.inner.call(req));
        }

        let start = Instant::now();
        let parent = propagation::extract_context(req.headers());
        // Set by axum when the layer wraps a Router's routes.
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|matched| matched.as_str().to_owned());
        let (span, attributes) =
            semconv::server_span(&req, route.as_deref(), &self.settings.captured_headers);
        for &key in defaults::BAGGAGE_ATTRIBUTES {
            if let Some(value) = parent.baggage().get(key) {
                span.set_attribute(key, value.as_str().to_owned());
            }
        }
        // The parent must be set before the span is first entered. It fails only when no
        // OpenTelemetry layer records the span, and then there is nothing to connect.
        if self.settings.public_endpoint {
            let _ = span.set_parent(opentelemetry::Context::new());
            let remote = parent.span().span_context().clone();
            if remote.is_valid() {
                span.add_link(remote);
            }
        } else {
            let _ = span.set_parent(parent);
        }

        let inner = span.in_scope(|| self.inner.call(req));
        ResponseFuture::traced(
            inner,
            Exchange {
                span,
                side: Side::Server,
                start,
                duration: self.settings.duration.clone(),
                attributes,
            },
        )
    }
}
