//! Trace context and baggage in HTTP headers.
//!
//! The functions use the global propagator that [`init`](super::init) installs, even with
//! `OTEL_SDK_DISABLED=true`: W3C trace context ([`TraceContextPropagator`](super::TraceContextPropagator))
//! and baggage by default, `OTEL_PROPAGATORS` to change.

use std::future::Future;

use http::HeaderMap;
use opentelemetry::context::FutureExt as _;
use opentelemetry::{Context, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// The context a caller sent in `headers` (`traceparent`, `tracestate`, `baggage`).
///
/// Returns an empty context when the headers carry none.
#[must_use]
pub fn extract_context(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

/// The context a caller sent in `headers`, or `None` when they carry none of the propagators'
/// fields: then there is nothing to extract, and the current context stays the caller's.
pub(crate) fn caller_context(headers: &HeaderMap) -> Option<Context> {
    global::get_text_map_propagator(|propagator| {
        let sent = propagator.fields().any(|field| headers.contains_key(field));
        sent.then(|| propagator.extract(&HeaderExtractor(headers)))
    })
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

/// Spawns `future` on the Tokio runtime inside the current span and trace context.
///
/// `tokio::spawn` starts a task with no span and no context: what it logs carries no
/// `trace_id`, and the calls it makes start new traces. This keeps both, so the work a request
/// hands off stays in its trace, even while telemetry is off.
///
/// ```
/// use ledger::telemetry;
///
/// # async fn handler() {
/// let audit = telemetry::spawn(async {
///     tracing::info!("written to the audit log");
/// });
/// audit.await.unwrap();
/// # }
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_span().with_current_context())
}
