//! Span names and attributes of HTTP and gRPC exchanges, after the OpenTelemetry semantic
//! conventions.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, Method, Request, Uri};
use opentelemetry::KeyValue;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::redact;

/// Histogram bucket boundaries, in seconds, advised for request durations.
pub(crate) const DURATION_BOUNDARIES: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The method as recorded: one of the standard methods, or `_OTHER`, which keeps arbitrary
/// client input out of span names and metric attributes.
pub(crate) fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

/// gRPC services that are never traced: health checks, like the HTTP probes of
/// [`UNTRACED_ROUTES`](super::defaults::UNTRACED_ROUTES).
const UNTRACED_GRPC_SERVICES: &[&str] = &["grpc.health.v1.Health"];

/// Whether `path` is a call of an [`UNTRACED_GRPC_SERVICES`] service.
pub(crate) fn is_untraced_grpc(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|call| call.split_once('/'))
        .is_some_and(|(service, _)| UNTRACED_GRPC_SERVICES.contains(&service))
}

/// `(service, method)` of a gRPC call, read from its path `/package.Service/Method`.
pub(crate) fn grpc_call<'a>(headers: &HeaderMap, uri: &'a Uri) -> Option<(&'a str, &'a str)> {
    let is_grpc = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"));
    if !is_grpc {
        return None;
    }
    uri.path().trim_start_matches('/').split_once('/')
}

/// Opens the span of an incoming request and returns it with the attributes of its metric.
pub(crate) fn server_span<B>(
    req: &Request<B>,
    route: Option<&str>,
    captured_headers: &[HeaderName],
) -> (Span, Vec<KeyValue>) {
    let method = method_name(req.method());
    let grpc = grpc_call(req.headers(), req.uri());
    let name = match (grpc, route) {
        (Some((service, rpc)), _) => format!("{service}/{rpc}"),
        (None, Some(route)) => format!("{method} {route}"),
        (None, None) => method.to_owned(),
    };
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = name.as_str(),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = req.uri().path(),
        url.query = Empty,
        url.scheme = req.uri().scheme_str().unwrap_or("http"),
        rpc.system = Empty,
        rpc.service = Empty,
        rpc.method = Empty,
        http.response.status_code = Empty,
        rpc.grpc.status_code = Empty,
        error.type = Empty,
    );
    if let Some(query) = req.uri().query() {
        span.record("url.query", redact::redact_query(query).as_ref());
    }
    for name in captured_headers {
        if redact::is_redacted_header(name.as_str()) {
            continue;
        }
        let values: Vec<&str> = req
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        if !values.is_empty() {
            span.set_attribute(format!("http.request.header.{name}"), values.join(","));
        }
    }

    let mut attributes = vec![KeyValue::new("http.request.method", method)];
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.to_owned()));
    }
    if let Some((service, rpc)) = grpc {
        record_rpc(&span, &mut attributes, service, rpc);
    }
    (span, attributes)
}

/// Opens the span of an outgoing request and returns it with the attributes of its metric.
pub(crate) fn client_span(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> (Span, Vec<KeyValue>) {
    let method = method_name(method);
    let grpc = grpc_call(headers, uri);
    let name = match grpc {
        Some((service, rpc)) => format!("{service}/{rpc}"),
        None => method.to_owned(),
    };
    // Above a tonic channel the URI is only a path; the channel adds the origin later.
    let host = uri.host();
    let port = uri
        .port_u16()
        .or_else(|| match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        })
        .map(i64::from);
    let url = full_url(uri);
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = name.as_str(),
        otel.kind = "client",
        http.request.method = method,
        server.address = host,
        server.port = port,
        url.full = url.as_str(),
        rpc.system = Empty,
        rpc.service = Empty,
        rpc.method = Empty,
        http.response.status_code = Empty,
        rpc.grpc.status_code = Empty,
        error.type = Empty,
    );

    let mut attributes = vec![KeyValue::new("http.request.method", method)];
    if let Some(host) = host {
        attributes.push(KeyValue::new("server.address", host.to_owned()));
    }
    if let Some(port) = port {
        attributes.push(KeyValue::new("server.port", port));
    }
    if let Some((service, rpc)) = grpc {
        record_rpc(&span, &mut attributes, service, rpc);
    }
    (span, attributes)
}

/// The URL as recorded: without credentials, with redacted query values.
fn full_url(uri: &Uri) -> String {
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(host) = uri.host() {
        url.push_str(host);
    }
    if let Some(port) = uri.port() {
        url.push(':');
        url.push_str(port.as_str());
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(&redact::redact_query(query));
    }
    url
}

fn record_rpc(span: &Span, attributes: &mut Vec<KeyValue>, service: &str, rpc: &str) {
    span.record("rpc.system", "grpc");
    span.record("rpc.service", service);
    span.record("rpc.method", rpc);
    attributes.push(KeyValue::new("rpc.system", "grpc"));
    attributes.push(KeyValue::new("rpc.service", service.to_owned()));
    attributes.push(KeyValue::new("rpc.method", rpc.to_owned()));
}

/// Whether a gRPC status code means the server failed, as opposed to the caller.
pub(crate) fn is_grpc_server_error(code: i64) -> bool {
    // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}
