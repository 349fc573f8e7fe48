//! W3C trace context and baggage in HTTP headers.
//!
//! The functions use the global propagator that [`init`](super::init) installs
//! (`tracecontext` and `baggage` by default, `OTEL_PROPAGATORS` to change).

use http::HeaderMap;
use opentelemetry::{Context, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The context a caller sent in `headers` (`traceparent`, `tracestate`, `baggage`).
///
/// Returns an empty context when the headers carry none.
pub fn extract_context(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

/// Writes `cx` into `headers`, replacing any trace headers already there.
pub fn inject_context(cx: &Context, headers: &mut HeaderMap) {
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut HeaderInjector(headers));
    });
}

/// Writes the context of the current `tracing` span into `headers`.
///
/// For an outbound request made by hand; [`ClientLayer`](super::ClientLayer) does the same and
/// also records a client span.
///
/// ```
/// use http::HeaderMap;
/// use ledger::telemetry::inject_headers;
///
/// let mut headers = HeaderMap::new();
/// inject_headers(&mut headers);
/// // Outside of a sampled span there is nothing to propagate.
/// assert!(headers.get("traceparent").is_none());
/// ```
pub fn inject_headers(headers: &mut HeaderMap) {
    inject_context(&tracing::Span::current().context(), headers);
}
