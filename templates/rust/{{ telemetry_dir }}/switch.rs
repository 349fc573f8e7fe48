//! The runtime switch and sampling ratio.
//!
//! Two process-wide values change how much is recorded without a restart: whether telemetry is
//! on at all, and the probability with which a root span is sampled. The
//! [admin listener](super::admin) and the [flags file](super::flags) change them through
//! [`flags::apply`](super::flags::apply); code may call [`set_enabled`] and
//! [`set_sampling_ratio`] directly.
//!
//! While the switch is off, nothing is recorded, but the trace context still flows:
//!
//! - [`OtelLayer`](super::OtelLayer) opens no span and records no metric, yet makes the
//!   caller's context current for the request;
//! - [`ClientLayer`](super::ClientLayer) and the other clients open no span, yet inject the
//!   current context into every outgoing call;
//! - [`KillSwitchFilter`] keeps every other `tracing` span and event away from the
//!   OpenTelemetry layers;
//! - [`KillSwitchSampler`] drops spans started through the OpenTelemetry API directly.
//!
//! So a service switched off during an incident still connects its callers' traces to its
//! callees'. JSON logs keep flowing. The values are plain atomics rather than a
//! `tracing_subscriber::reload` layer: reloading the OpenTelemetry layer breaks `set_parent`,
//! and a per-layer filter costs one atomic load per span.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId};
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

/// The bits of the root sampling ratio, an `f64`; 1.0 until a pipeline sets its own.
static SAMPLING_RATIO: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000);

/// Whether telemetry is currently recorded. `true` until switched off.
pub fn enabled() -> bool {
    STATE.load(Ordering::Relaxed) == ON
}

/// Whether telemetry can be switched on: `false` after `OTEL_SDK_DISABLED=true`.
pub fn available() -> bool {
    STATE.load(Ordering::Relaxed) != UNAVAILABLE
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

/// The probability with which a root span is sampled by the ratio-based samplers.
pub fn sampling_ratio() -> f64 {
    f64::from_bits(SAMPLING_RATIO.load(Ordering::Relaxed))
}

/// Sets the probability with which a root span is sampled, clamped to `0.0..=1.0`.
///
/// It applies at once to every ratio-based sampler of the process: the policy's, the one of
/// `OTEL_TRACES_SAMPLER=parentbased_traceidratio`, and the fallback of the remote sampler.
pub fn set_sampling_ratio(ratio: f64) {
    let ratio = if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    };
    SAMPLING_RATIO.store(ratio.to_bits(), Ordering::Relaxed);
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
            // A dropped span still carries its parent's tracestate, so it propagates intact.
            let trace_state = parent_context
                .map(|cx| cx.span().span_context().trace_state().clone())
                .unwrap_or_default();
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state,
            };
        }
        self.inner
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}
