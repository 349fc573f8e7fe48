//! Names and attributes of the exchanges the layers trace, after the OpenTelemetry semantic
//! conventions 1.43.0: HTTP server and client spans and metrics, and gRPC on the current RPC
//! conventions (`rpc.system.name`, a fully qualified `rpc.method`, the string
//! `rpc.response.status_code`, `rpc.server.call.duration` and `rpc.client.call.duration`).
//!
//! A span and its metric carry the same attributes, the metric a low-cardinality subset.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, Method, Request, Uri, Version};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::metrics::Histogram;
use opentelemetry::{Array, Context, KeyValue, StringValue, Value, global};
use tonic::transport::server::TcpConnectInfo;

use super::{defaults, init, redact};

/// Histogram bucket boundaries, in seconds, advised for request, call and message durations.
pub(crate) const DURATION_BOUNDARIES: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A duration histogram in seconds from the global meter provider.
pub(crate) fn duration_histogram(
    name: &'static str,
    description: &'static str,
    boundaries: &[f64],
) -> Histogram<f64> {
    global::meter_with_scope(init::scope())
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(boundaries.to_vec())
        .build()
}

/// The methods of RFC 9110 and RFC 5789, as recorded.
const KNOWN_METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// `http.request.method` and, when the request spelt it otherwise, `http.request.method_original`.
///
/// Any other method is recorded as `_OTHER`, which keeps arbitrary client input out of span
/// names and metric attributes; the original is kept on the span only.
pub(crate) fn method(method: &Method) -> (&'static str, Option<&str>) {
    let sent = method.as_str();
    match KNOWN_METHODS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(sent))
    {
        Some(known) if *known == sent => (known, None),
        Some(known) => (known, Some(sent)),
        None => ("_OTHER", Some(sent)),
    }
}

/// The name of an HTTP span: `{method} {route}`, the method alone without a route, and
/// `HTTP` in place of a method outside the known ones.
pub(crate) fn http_span_name(method: &'static str, route: Option<&str>) -> Cow<'static, str> {
    let method = if method == "_OTHER" { "HTTP" } else { method };
    match route {
        Some(route) => Cow::Owned(format!("{method} {route}")),
        None => Cow::Borrowed(method),
    }
}

/// `network.protocol.version` of an HTTP version.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// The host and, when there is one, the port of a `host[:port]` authority; an IPv6 host loses
/// its brackets.
pub(crate) fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, port)) => (host, port.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (authority, None),
    }
}

/// The port of `scheme` when a URL names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

// --- gRPC ---------------------------------------------------------------------------------------

/// The names of the gRPC status codes, by code, as `rpc.response.status_code` records them.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The code a status outside the known ones counts as.
pub(crate) const GRPC_UNKNOWN: u8 = 2;
/// The code of a call that got no answer.
pub(crate) const GRPC_UNAVAILABLE: u8 = 14;
/// The code of a call whose answer was given up before its status arrived.
pub(crate) const GRPC_CANCELLED: u8 = 1;

/// The name of a gRPC status code.
pub(crate) fn grpc_code_name(code: u8) -> &'static str {
    GRPC_CODES
        .get(usize::from(code))
        .copied()
        .unwrap_or(GRPC_CODES[usize::from(GRPC_UNKNOWN)])
}

/// Whether a gRPC status code means the server failed, as opposed to the caller.
pub(crate) fn is_grpc_server_error(code: u8) -> bool {
    // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// The `grpc-status` of response headers or trailers; a value that is no code is `UNKNOWN`.
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<u8> {
    let value = headers.get("grpc-status")?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|code| code.parse::<u8>().ok())
            .filter(|code| usize::from(*code) < GRPC_CODES.len())
            .unwrap_or(GRPC_UNKNOWN),
    )
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

/// The fully qualified method (`package.Service/Method`) of a gRPC call, read from its path.
pub(crate) fn grpc_method<'a>(headers: &HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    let is_grpc = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"));
    let method = uri.path().strip_prefix('/')?;
    let (service, name) = method.split_once('/')?;
    (is_grpc && !service.is_empty() && !name.is_empty() && !name.contains('/')).then_some(method)
}

// --- Servers ------------------------------------------------------------------------------------

/// What an incoming request is, as far as its span and metric need.
pub(crate) enum ServerCall<'a> {
    /// An HTTP request, with the route the router matched.
    Http {
        method: &'static str,
        route: Option<String>,
    },
    /// A gRPC call of `method`.
    Grpc { method: &'a str },
}

impl<'a> ServerCall<'a> {
    /// Reads the kind of `req` and its route (set by axum when the layer wraps a Router's
    /// routes).
    pub(crate) fn of<B>(req: &'a Request<B>) -> Self {
        match grpc_method(req.headers(), req.uri()) {
            Some(method) => ServerCall::Grpc { method },
            None => ServerCall::Http {
                method: method(req.method()).0,
                route: req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|matched| matched.as_str().to_owned()),
            },
        }
    }

    /// The span name.
    pub(crate) fn span_name(&self) -> Cow<'static, str> {
        match self {
            ServerCall::Http { method, route } => http_span_name(method, route.as_deref()),
            ServerCall::Grpc { method } => Cow::Owned((*method).to_owned()),
        }
    }

    /// The attributes of the metric known before the answer.
    pub(crate) fn metric_attributes<B>(&self, req: &Request<B>) -> Vec<KeyValue> {
        match self {
            ServerCall::Http { method, .. } => {
                let mut attributes = Vec::with_capacity(8);
                attributes.push(KeyValue::new("http.request.method", *method));
                attributes.push(KeyValue::new("url.scheme", scheme(req.uri())));
                attributes.push(KeyValue::new("network.protocol.name", "http"));
                if let Some(version) = protocol_version(req.version()) {
                    attributes.push(KeyValue::new("network.protocol.version", version));
                }
                attributes
            }
            ServerCall::Grpc { method } => vec![
                KeyValue::new("rpc.system.name", "grpc"),
                KeyValue::new("rpc.method", (*method).to_owned()),
            ],
        }
    }

    /// The attributes of a span that records, known before the answer.
    pub(crate) fn span_attributes<B>(
        &self,
        req: &Request<B>,
        captured_headers: &[HeaderName],
        remote: &Context,
    ) -> Vec<KeyValue> {
        match self {
            ServerCall::Http { .. } => http_server_attributes(req, captured_headers, remote),
            ServerCall::Grpc { method } => {
                let mut attributes = vec![
                    KeyValue::new("rpc.system.name", "grpc"),
                    KeyValue::new("rpc.method", (*method).to_owned()),
                ];
                // Where the call arrived: the connection's local address, else the authority
                // the client named.
                let local = req
                    .extensions()
                    .get::<TcpConnectInfo>()
                    .and_then(TcpConnectInfo::local_addr);
                match local {
                    Some(local) => push_address(&mut attributes, SERVER, local),
                    None => {
                        if let Some(authority) = req.uri().authority() {
                            let (host, port) = split_host_port(authority.as_str());
                            attributes.push(KeyValue::new("server.address", host.to_owned()));
                            if let Some(port) = port {
                                attributes.push(KeyValue::new("server.port", i64::from(port)));
                            }
                        }
                    }
                }
                attributes
            }
        }
    }
}

/// The scheme of a request: the one of its URI (HTTP/2), else `http`.
fn scheme(uri: &Uri) -> &'static str {
    match uri.scheme_str() {
        Some("https") => "https",
        _ => "http",
    }
}

/// The keys of a socket address: `server.address` and `server.port`, say.
type AddressKeys = (&'static str, &'static str);

const SERVER: AddressKeys = ("server.address", "server.port");
const PEER: AddressKeys = ("network.peer.address", "network.peer.port");

/// The attributes of a socket address under `keys`.
fn push_address(
    attributes: &mut Vec<KeyValue>,
    (address_key, port_key): AddressKeys,
    address: SocketAddr,
) {
    attributes.push(KeyValue::new(address_key, address.ip().to_string()));
    attributes.push(KeyValue::new(port_key, i64::from(address.port())));
}

/// The span attributes of an HTTP request, as otelhttp records them.
fn http_server_attributes<B>(
    req: &Request<B>,
    captured_headers: &[HeaderName],
    remote: &Context,
) -> Vec<KeyValue> {
    let headers = req.headers();
    let (method, original) = method(req.method());
    let mut attributes = Vec::with_capacity(16 + captured_headers.len());
    attributes.push(KeyValue::new("http.request.method", method));
    if let Some(original) = original {
        attributes.push(KeyValue::new(
            "http.request.method_original",
            original.to_owned(),
        ));
    }
    let scheme = scheme(req.uri());
    attributes.push(KeyValue::new("url.scheme", scheme));
    attributes.push(KeyValue::new("url.path", req.uri().path().to_owned()));
    if let Some(query) = req.uri().query() {
        attributes.push(KeyValue::new(
            "url.query",
            redact::redact_query(query).into_owned(),
        ));
    }
    // The server as the client named it: the Host header (HTTP/1), else the authority (HTTP/2).
    let authority = headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| req.uri().authority().map(http::uri::Authority::as_str));
    if let Some(authority) = authority {
        let (host, port) = split_host_port(authority);
        if !host.is_empty() {
            attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        if let Some(port) = port.filter(|port| Some(*port) != default_port(scheme)) {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer)
        .or_else(|| {
            req.extensions()
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr)
        });
    if let Some(peer) = peer {
        push_address(&mut attributes, PEER, peer);
    }
    // The original client: the first address of X-Forwarded-For, else the peer.
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .map(str::trim)
        .filter(|client| !client.is_empty());
    match (forwarded, peer) {
        (Some(client), _) => attributes.push(KeyValue::new("client.address", client.to_owned())),
        (None, Some(peer)) => {
            attributes.push(KeyValue::new("client.address", peer.ip().to_string()));
        }
        (None, None) => {}
    }
    if let Some(version) = protocol_version(req.version()) {
        attributes.push(KeyValue::new("network.protocol.version", version));
    }
    if let Some(agent) = headers
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
    {
        attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
    }
    if let Some(size) = content_length(headers).filter(|size| *size > 0) {
        attributes.push(KeyValue::new("http.request.body.size", size));
    }
    for name in captured_headers {
        if redact::is_redacted_header(name.as_str()) {
            continue;
        }
        let values: Vec<StringValue> = headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(|value| StringValue::from(value.to_owned()))
            .collect();
        if !values.is_empty() {
            attributes.push(KeyValue::new(
                format!("http.request.header.{name}"),
                Value::Array(Array::String(values)),
            ));
        }
    }
    for &key in defaults::BAGGAGE_ATTRIBUTES {
        if let Some(value) = remote.baggage().get(key) {
            attributes.push(KeyValue::new(key, value.as_str().to_owned()));
        }
    }
    attributes
}

/// The `Content-Length` of a message, when it declares one.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<i64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()
        .and_then(|size| i64::try_from(size).ok())
}

// --- Clients ------------------------------------------------------------------------------------

/// What an outgoing request is, as far as its span and metric need.
pub(crate) enum ClientCall<'a> {
    /// An HTTP request.
    Http {
        method: &'static str,
        original: Option<&'a str>,
    },
    /// A gRPC call of `method`.
    Grpc { method: &'a str },
}

/// The server an outgoing request goes to: from its URI, else from the target the client
/// layer was given (a tonic channel leaves the origin out of the URI).
pub(crate) struct Server<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) host: Option<&'a str>,
    pub(crate) port: Option<u16>,
}

impl<'a> Server<'a> {
    /// The server of `uri`, or of `target` when `uri` names none.
    pub(crate) fn of(uri: &'a Uri, target: Option<&'a Uri>) -> Self {
        let origin = if uri.host().is_some() {
            Some(uri)
        } else {
            target
        };
        let scheme = origin.and_then(Uri::scheme_str).unwrap_or("http");
        let host = origin.and_then(Uri::host).map(|host| {
            host.strip_prefix('[')
                .and_then(|host| host.strip_suffix(']'))
                .unwrap_or(host)
        });
        let port = origin
            .and_then(Uri::port_u16)
            .or_else(|| host.and_then(|_| default_port(scheme)));
        Self { scheme, host, port }
    }

    fn push(&self, attributes: &mut Vec<KeyValue>) {
        if let Some(host) = self.host {
            attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        if let Some(port) = self.port {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
    }
}

impl<'a> ClientCall<'a> {
    /// Reads the kind of an outgoing request.
    pub(crate) fn of(method: &'a Method, uri: &'a Uri, headers: &HeaderMap) -> Self {
        if let Some(method) = grpc_method(headers, uri) {
            ClientCall::Grpc { method }
        } else {
            let (method, original) = self::method(method);
            ClientCall::Http { method, original }
        }
    }

    /// The span name: the method (`HTTP` for another), or the gRPC method.
    pub(crate) fn span_name(&self) -> Cow<'static, str> {
        match self {
            ClientCall::Http { method, .. } => http_span_name(method, None),
            ClientCall::Grpc { method } => Cow::Owned((*method).to_owned()),
        }
    }

    /// The attributes of the metric known before the answer.
    pub(crate) fn metric_attributes(&self, server: &Server<'_>, version: Version) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(8);
        match self {
            ClientCall::Http { method, .. } => {
                attributes.push(KeyValue::new("http.request.method", *method));
                attributes.push(KeyValue::new("url.scheme", scheme_name(server.scheme)));
                attributes.push(KeyValue::new("network.protocol.name", "http"));
                if let Some(version) = protocol_version(version) {
                    attributes.push(KeyValue::new("network.protocol.version", version));
                }
            }
            ClientCall::Grpc { method } => {
                attributes.push(KeyValue::new("rpc.system.name", "grpc"));
                attributes.push(KeyValue::new("rpc.method", (*method).to_owned()));
            }
        }
        server.push(&mut attributes);
        attributes
    }

    /// The attributes of a span that records, known before the answer; `body_size` is the
    /// size of the request's body, when known.
    pub(crate) fn span_attributes(
        &self,
        server: &Server<'_>,
        uri: &Uri,
        version: Version,
        body_size: Option<i64>,
    ) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(8);
        match self {
            ClientCall::Http { method, original } => {
                attributes.push(KeyValue::new("http.request.method", *method));
                if let Some(original) = original {
                    attributes.push(KeyValue::new(
                        "http.request.method_original",
                        (*original).to_owned(),
                    ));
                }
                attributes.push(KeyValue::new("url.full", full_url(server, uri)));
                if let Some(version) = protocol_version(version) {
                    attributes.push(KeyValue::new("network.protocol.version", version));
                }
                if let Some(size) = body_size.filter(|size| *size > 0) {
                    attributes.push(KeyValue::new("http.request.body.size", size));
                }
            }
            ClientCall::Grpc { method } => {
                attributes.push(KeyValue::new("rpc.system.name", "grpc"));
                attributes.push(KeyValue::new("rpc.method", (*method).to_owned()));
            }
        }
        server.push(&mut attributes);
        attributes
    }
}

/// A scheme as a `&'static str`, for the metric.
fn scheme_name(scheme: &str) -> &'static str {
    if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else {
        "http"
    }
}

/// The URL as recorded: without user info, with redacted query values.
fn full_url(server: &Server<'_>, uri: &Uri) -> String {
    let mut url = format!("{}://", server.scheme);
    if let Some(host) = server.host {
        if host.contains(':') {
            url.push('[');
            url.push_str(host);
            url.push(']');
        } else {
            url.push_str(host);
        }
    }
    if let Some(port) = server
        .port
        .filter(|port| Some(*port) != default_port(server.scheme))
    {
        url.push(':');
        url.push_str(&port.to_string());
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(&redact::redact_query(query));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_known_ones_are_other() {
        assert_eq!(method(&Method::GET), ("GET", None));
        let foo = Method::from_bytes(b"FOO").unwrap();
        assert_eq!(method(&foo), ("_OTHER", Some("FOO")));
        let lower = Method::from_bytes(b"get").unwrap();
        assert_eq!(method(&lower), ("GET", Some("get")));
        assert_eq!(http_span_name("_OTHER", None), "HTTP");
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_host_port("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:9090"), ("::1", Some(9090)));
        assert_eq!(split_host_port("[::1]"), ("::1", None));
    }

    #[test]
    fn grpc_codes_have_their_names() {
        assert_eq!(grpc_code_name(0), "OK");
        assert_eq!(grpc_code_name(13), "INTERNAL");
        assert_eq!(grpc_code_name(99), "UNKNOWN");
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", "16".parse().unwrap());
        assert_eq!(grpc_status(&headers), Some(16));
        headers.insert("grpc-status", "x".parse().unwrap());
        assert_eq!(grpc_status(&headers), Some(GRPC_UNKNOWN));
    }

    #[test]
    fn recorded_urls_carry_no_user_info_and_no_secret() {
        let param = defaults::REDACTED_QUERY_PARAMS[0];
        let uri: Uri = format!("http://user:pw@example.com:80/a?{param}=s3cr3t&page=2")
            .parse()
            .unwrap();
        let server = Server::of(&uri, None);
        assert_eq!(
            full_url(&server, &uri),
            format!("http://example.com/a?{param}=REDACTED&page=2")
        );
    }
}
