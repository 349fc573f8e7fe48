//! One traced exchange, from the request to the end of its answer's body: its span and its
//! duration metric, completed with what the answer tells.

use std::borrow::Cow;
use std::time::Instant;

use http::{HeaderMap, StatusCode};
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::semconv;

/// Which side of the exchange a span describes; it decides what counts as an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// Why an exchange failed other than by its status: no answer, or a body that broke off.
#[derive(Debug)]
struct Failure {
    /// `error.type`: the type of the error.
    error_type: &'static str,
    /// The span's status description; never an error's own text, which may name a URL.
    description: &'static str,
}

/// A traced exchange. It ends, recording its span and its metric, when it is dropped: after
/// the answer's body ended, or when the answer is given up.
#[derive(Debug)]
pub(crate) struct Exchange {
    cx: Context,
    /// Whether the span records; the attributes of one that does not are never built.
    recording: bool,
    side: Side,
    grpc: bool,
    start: Instant,
    duration: Histogram<f64>,
    /// The metric's attributes known at the start.
    attributes: Vec<KeyValue>,
    /// The method and route of an HTTP server exchange, for its span name and `http.route`.
    route: Option<(&'static str, String)>,
    http_status: Option<StatusCode>,
    grpc_status: Option<u8>,
    body_size: u64,
    failure: Option<Failure>,
    /// Whether the answer's body reached its end.
    complete: bool,
}

impl Exchange {
    /// An exchange whose span is the current span of `cx`, started at `start`, measured in
    /// `duration` with `attributes` and those the answer adds.
    pub(crate) fn new(
        cx: Context,
        side: Side,
        grpc: bool,
        start: Instant,
        duration: Histogram<f64>,
        attributes: Vec<KeyValue>,
    ) -> Self {
        Self {
            recording: cx.span().is_recording(),
            cx,
            side,
            grpc,
            start,
            duration,
            attributes,
            route: None,
            http_status: None,
            grpc_status: None,
            body_size: 0,
            failure: None,
            complete: false,
        }
    }

    /// Records `route` as `http.route` unless the route turns out not to serve the request
    /// (405); the span is then renamed after `method` alone.
    pub(crate) fn with_route(mut self, method: &'static str, route: Option<String>) -> Self {
        self.route = route.map(|route| (method, route));
        self
    }

    /// The context of the exchange, its span current.
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// The head of the answer: its status, and the gRPC status of a trailers-only answer.
    pub(crate) fn on_response(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.http_status = Some(status);
        if self.grpc {
            self.grpc_status = semconv::grpc_status(headers);
        }
    }

    /// A chunk of the answer's body.
    pub(crate) fn on_data(&mut self, len: usize) {
        self.body_size = self.body_size.saturating_add(len as u64);
    }

    /// The trailers that end the answer, with the gRPC status.
    pub(crate) fn on_trailers(&mut self, trailers: &HeaderMap) {
        if self.grpc {
            self.grpc_status = semconv::grpc_status(trailers).or(self.grpc_status);
        }
        self.complete = true;
    }

    /// The end of the answer's body.
    pub(crate) fn on_end(&mut self) {
        self.complete = true;
    }

    /// A failure of the exchange itself: `E` is the type of the error, recorded as `error.type`.
    pub(crate) fn on_failure<E>(&mut self, description: &'static str) {
        self.failure = Some(Failure {
            error_type: std::any::type_name::<E>(),
            description,
        });
    }

    /// Records the metric, and the span when it records.
    fn finish(&mut self) {
        let mut attributes = std::mem::take(&mut self.attributes);
        let mut status_code = None;
        let mut error_type: Option<Cow<'static, str>> = None;
        let mut route = None;
        let mut renamed = None;
        if self.grpc {
            let code = self
                .grpc_status
                .unwrap_or(match (&self.http_status, &self.failure) {
                    (None, Some(_)) => semconv::GRPC_UNAVAILABLE,
                    _ if self.complete || self.failure.is_some() => semconv::GRPC_UNKNOWN,
                    _ => semconv::GRPC_CANCELLED,
                });
            let name = semconv::grpc_code_name(code);
            status_code = Some(KeyValue::new("rpc.response.status_code", name));
            let failed = match self.side {
                Side::Server => semconv::is_grpc_server_error(code),
                Side::Client => code != 0,
            };
            error_type = failed.then_some(Cow::Borrowed(name));
        } else {
            if let Some(status) = self.http_status {
                let code = i64::from(status.as_u16());
                status_code = Some(KeyValue::new("http.response.status_code", code));
                let failed = match self.side {
                    Side::Server => status.is_server_error(),
                    Side::Client => status.is_client_error() || status.is_server_error(),
                };
                error_type = failed.then(|| Cow::Owned(status.as_u16().to_string()));
            }
            if let Some((method, matched)) = self.route.take() {
                if self.http_status == Some(StatusCode::METHOD_NOT_ALLOWED) {
                    // The route matched the path but not the method: it did not serve the request.
                    renamed = Some(semconv::http_span_name(method, None));
                } else {
                    route = Some(KeyValue::new("http.route", matched));
                }
            }
        }
        if let Some(failure) = &self.failure {
            error_type.get_or_insert(Cow::Borrowed(failure.error_type));
        }
        let error_type = error_type.map(|error_type| KeyValue::new("error.type", error_type));
        attributes.extend(status_code.iter().chain(&route).chain(&error_type).cloned());
        self.duration
            .record(self.start.elapsed().as_secs_f64(), &attributes);

        if !self.recording {
            return;
        }
        let span = self.cx.span();
        if let Some(name) = renamed {
            span.update_name(name);
        }
        if self.side == Side::Server && !self.grpc && self.body_size > 0 {
            let size = i64::try_from(self.body_size).unwrap_or(i64::MAX);
            span.set_attribute(KeyValue::new("http.response.body.size", size));
        }
        if error_type.is_some() {
            let description = self
                .failure
                .as_ref()
                .map_or("", |failure| failure.description);
            span.set_status(Status::error(description));
        }
        span.set_attributes(status_code.into_iter().chain(route).chain(error_type));
        span.end();
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.finish();
    }
}
