//! Trace context and baggage in HTTP headers.
//!
//! The functions use the global propagator that [`init`](super::init) installs, even with
//! `OTEL_SDK_DISABLED=true`: W3C trace context ([`TraceContextPropagator`](super::TraceContextPropagator))
//! and baggage by default, `OTEL_PROPAGATORS` to change.

use http::HeaderMap;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing::Span;
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

/// Writes the current context into `headers`: the current span's, or, while telemetry is
/// off, the context the request came with.
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
/// // Outside of any trace there is nothing to propagate.
/// assert!(headers.get("traceparent").is_none());
/// ```
pub fn inject_headers(headers: &mut HeaderMap) {
    inject_context(&Context::current(), headers);
}

/// The context to propagate for work done in `span`: the span's own, or the current context
/// when no OpenTelemetry layer records the span (telemetry disabled, switched off, or the
/// layer not installed), so the caller's trace still flows on.
pub(crate) fn span_context_or_current(span: &Span) -> Context {
    let cx = span.context();
    if cx.has_active_span() {
        cx
    } else {
        Context::current()
    }
}
