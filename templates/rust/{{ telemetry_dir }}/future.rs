//! The response future shared by the server and client services.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{HeaderMap, Response, StatusCode};
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::Status;
use opentelemetry::{Context as OtelContext, KeyValue};
use pin_project_lite::pin_project;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::semconv;

pin_project! {
    /// Response future of [`OtelService`](super::OtelService) and
    /// [`ClientService`](super::ClientService).
    ///
    /// Polls the inner future inside the request's span, then records the outcome on the span
    /// and in the duration histogram. The span ends when the response head is ready; a
    /// streaming body is not waited for.
    ///
    /// When nothing records the request, it polls the inner future inside the caller's context
    /// instead, so that calls made for the request still carry the caller's trace.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        exchange: Option<Exchange>,
        context: Option<OtelContext>,
    }
}

impl<F> ResponseFuture<F> {
    /// Records `exchange`; polls inside `context` too, when given.
    pub(crate) fn traced(inner: F, exchange: Exchange, context: Option<OtelContext>) -> Self {
        Self {
            inner,
            exchange: Some(exchange),
            context,
        }
    }

    /// Records nothing; polls inside `context`, when given.
    pub(crate) fn untraced(inner: F, context: Option<OtelContext>) -> Self {
        Self {
            inner,
            exchange: None,
            context,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _attached = this
                .context
                .as_ref()
                .map(|context| context.clone().attach());
            let _entered = this.exchange.as_ref().map(|exchange| exchange.span.enter());
            ready!(this.inner.poll(cx))
        };
        if let Some(exchange) = this.exchange.take() {
            exchange.finish(&result);
        }
        Poll::Ready(result)
    }
}

/// Which side of the exchange a span describes; it decides what counts as an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// One traced request: its span, start time and metric.
pub(crate) struct Exchange {
    pub(crate) span: Span,
    pub(crate) side: Side,
    pub(crate) start: Instant,
    pub(crate) duration: Histogram<f64>,
    pub(crate) attributes: Vec<KeyValue>,
}

impl Exchange {
    fn finish<B, E: fmt::Display>(self, result: &Result<Response<B>, E>) {
        match result {
            Ok(response) => self.finish_response(response.status(), response.headers()),
            Err(err) => self.finish_error(err),
        }
    }

    /// Records a response: its status, and an error status when it reports a failure.
    pub(crate) fn finish_response(mut self, status: StatusCode, headers: &HeaderMap) {
        let status = i64::from(status.as_u16());
        // An i64, not a u16: tracing-opentelemetry records other integers as strings.
        self.span.record("http.response.status_code", status);
        self.attributes
            .push(KeyValue::new("http.response.status_code", status));
        let grpc_status = headers
            .get("grpc-status")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<i64>().ok());
        if let Some(code) = grpc_status {
            self.span.record("rpc.grpc.status_code", code);
            self.attributes
                .push(KeyValue::new("rpc.grpc.status_code", code));
        }
        let failed = match self.side {
            Side::Server => status >= 500 || grpc_status.is_some_and(semconv::is_grpc_server_error),
            Side::Client => status >= 400 || grpc_status.is_some_and(|code| code != 0),
        };
        if failed {
            let error_type = grpc_status.unwrap_or(status).to_string();
            self.span.record("error.type", error_type.as_str());
            self.span.set_status(Status::error(""));
            self.attributes
                .push(KeyValue::new("error.type", error_type));
        }
        self.record_duration();
    }

    /// Records a request that failed without a response.
    pub(crate) fn finish_error(mut self, err: &dyn fmt::Display) {
        self.span.record("error.type", "_OTHER");
        self.span.set_status(Status::error(err.to_string()));
        self.attributes.push(KeyValue::new("error.type", "_OTHER"));
        self.record_duration();
    }

    fn record_duration(&self) {
        self.duration
            .record(self.start.elapsed().as_secs_f64(), &self.attributes);
    }
}
