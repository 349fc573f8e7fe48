//! The runtime kill switch.
//!
//! One process-wide flag turns tracing and request metrics off and on without a restart, for
//! instance from the admin endpoint during an incident. While it is off:
//!
//! - [`OtelLayer`](super::OtelLayer) and [`ClientLayer`](super::ClientLayer) pass requests
//!   through untouched: no span, no metric, no header work;
//! - [`KillSwitchFilter`] keeps every other `tracing` span away from the OpenTelemetry layer;
//! - [`KillSwitchSampler`] drops spans started through the OpenTelemetry API directly.
//!
//! JSON logs keep flowing; they only lose their trace ids. The flag is a plain atomic rather
//! than a `tracing_subscriber::reload` layer: reloading the OpenTelemetry layer breaks
//! `set_parent`, and a per-layer filter costs one atomic load per span.

use std::sync::atomic::{AtomicU8, Ordering};

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use tracing::Metadata;
use tracing::subscriber::Interest;
use tracing_subscriber::layer::{Context as LayerContext, Filter};

const OFF: u8 = 0;
const ON: u8 = 1;
/// Set when `OTEL_SDK_DISABLED=true`: nothing is installed that could be switched on.
const UNAVAILABLE: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(ON);

/// Whether telemetry is currently recorded. `true` until switched off.
pub fn enabled() -> bool {
    STATE.load(Ordering::Relaxed) == ON
}

/// Switches telemetry on or off for the whole process.
///
/// Has no effect when the SDK was disabled with `OTEL_SDK_DISABLED=true`: there is no pipeline
/// to switch on, and [`enabled`] keeps returning `false`.
pub fn set_enabled(on: bool) {
    let next = if on { ON } else { OFF };
    // A failed exchange means the state is UNAVAILABLE, which must stick.
    let _ = STATE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |state| {
        (state != UNAVAILABLE).then_some(next)
    });
}

/// Marks telemetry as unavailable for the rest of the process (`OTEL_SDK_DISABLED=true`).
pub(crate) fn make_unavailable() {
    STATE.store(UNAVAILABLE, Ordering::Relaxed);
}

/// A per-layer filter that lets spans and events through only while the switch is on.
///
/// Its interest is never cached per callsite, so flipping the switch takes effect at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct KillSwitchFilter;

impl<S> Filter<S> for KillSwitchFilter {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &LayerContext<'_, S>) -> bool {
        enabled()
    }

    fn callsite_enabled(&self, _meta: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
}

/// A sampler that drops every span while the switch is off and asks `inner` otherwise.
#[derive(Clone, Debug)]
pub struct KillSwitchSampler {
    inner: Box<dyn ShouldSample>,
}

impl KillSwitchSampler {
    /// Wraps `inner`.
    pub fn new(inner: impl Into<Box<dyn ShouldSample>>) -> Self {
        Self {
            inner: inner.into(),
        }
    }
}

impl ShouldSample for KillSwitchSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        if !enabled() {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: Default::default(),
            };
        }
        self.inner
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}
