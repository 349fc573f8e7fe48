//! W3C Trace Context Level 2: the `traceparent` and `tracestate` headers.
//!
//! [`TraceContextPropagator`] replaces the SDK's propagator of the same name, which misses
//! parts of the specification (<https://www.w3.org/TR/trace-context-2/>):
//!
//! - every field of `traceparent` must have its exact length and lower-case hex digits; version
//!   `ff` and all-zero ids are invalid; a version above `00` is read by its first four fields;
//!   two `traceparent` header lines make the context invalid, and a new trace starts;
//! - all `tracestate` header lines are read and combined in order, empty members are skipped,
//!   and an empty `tracestate` is never sent;
//! - more than 32 members, a key outside the Level 2 grammar (up to 256 characters, or
//!   `tenant@system` with a tenant of up to 241 and a system of up to 14), a malformed value or
//!   a duplicate key discard the whole `tracestate`: it is never forwarded broken or truncated;
//! - the random flag (`0x02`) is kept on extract and inject, and set on the traces this service
//!   starts, whose ids are random.
//!
//! What arrived is kept in the extracted context beside its span context. As long as the
//! trace's tracestate is not changed here, it leaves exactly as it came, even members the SDK's
//! `TraceState` cannot hold (a system id of 14 characters); and so does the random flag of a
//! caller, even through spans the sampler dropped.

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
const SAMPLED: u8 = 0x01;
const RANDOM: u8 = 0x02;
/// The most members a `tracestate` may have.
const MAX_MEMBERS: usize = 32;

/// Extracts and injects `traceparent` and `tracestate` after W3C Trace Context Level 2.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::trace::TraceContextExt;
/// use ledger::telemetry::TraceContextPropagator;
///
/// let propagator = TraceContextPropagator::new();
/// let incoming = HashMap::from([(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_owned(),
/// )]);
/// let cx = propagator.extract(&incoming);
/// assert!(cx.span().span_context().is_sampled());
///
/// let mut outgoing = HashMap::new();
/// propagator.inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["traceparent"], incoming["traceparent"]);
/// ```
#[derive(Clone, Debug)]
pub struct TraceContextPropagator {
    fields: [String; 2],
}

impl Default for TraceContextPropagator {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceContextPropagator {
    /// The propagator.
    #[must_use]
    pub fn new() -> Self {
        Self {
            fields: [TRACEPARENT.to_owned(), TRACESTATE.to_owned()],
        }
    }
}

/// What the caller sent, kept in the extracted context.
#[derive(Debug)]
struct Received {
    trace_id: TraceId,
    random: bool,
    tracestate: Option<ReceivedState>,
}

/// A valid `tracestate` as it arrived: its members, and what the SDK could hold of them.
#[derive(Debug)]
struct ReceivedState {
    header: String,
    parsed: TraceState,
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let received = cx
            .get::<Received>()
            .filter(|received| received.trace_id == span_context.trace_id());
        let flags = span_context.trace_flags().to_u8();
        let random = flags & RANDOM != 0
            || match received {
                Some(received) => received.random,
                // A trace that did not arrive here started here, with a random trace id.
                None => !span_context.is_remote(),
            };
        let flags = (flags & SAMPLED) | if random { RANDOM } else { 0 };
        injector.set(
            TRACEPARENT,
            format!(
                "00-{}-{}-{flags:02x}",
                span_context.trace_id(),
                span_context.span_id()
            ),
        );

        let trace_state = span_context.trace_state();
        let header = match received.and_then(|received| received.tracestate.as_ref()) {
            Some(state) if state.parsed == *trace_state => state.header.clone(),
            _ => trace_state.header(),
        };
        if !header.is_empty() {
            injector.set(TRACESTATE, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(parent) = traceparent(extractor) else {
            return cx.clone();
        };
        let lines = extractor.get_all(TRACESTATE).unwrap_or_default();
        let tracestate = tracestate_members(&lines)
            .filter(|members| !members.is_empty())
            .map(|members| ReceivedState {
                header: members
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect::<Vec<_>>()
                    .join(","),
                parsed: sdk_trace_state(&members),
            });
        let span_context = SpanContext::new(
            parent.trace_id,
            parent.span_id,
            TraceFlags::new(parent.flags & (SAMPLED | RANDOM)),
            true,
            tracestate
                .as_ref()
                .map(|state| state.parsed.clone())
                .unwrap_or_default(),
        );
        cx.with_remote_span_context(span_context)
            .with_value(Received {
                trace_id: parent.trace_id,
                random: parent.flags & RANDOM != 0,
                tracestate,
            })
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// The fields of a valid `traceparent`.
struct Traceparent {
    trace_id: TraceId,
    span_id: SpanId,
    flags: u8,
}

/// The one valid `traceparent` of the carrier; `None` when there is none, several, or an
/// invalid one.
fn traceparent(extractor: &dyn Extractor) -> Option<Traceparent> {
    match extractor.get_all(TRACEPARENT)?.as_slice() {
        [value] => parse_traceparent(value),
        _ => None,
    }
}

/// Parses `version-traceid-parentid-flags`, each field of exactly 2, 32, 16 and 2 lower-case
/// hex digits. A version above `00` may carry more fields after a `-`, which are ignored.
fn parse_traceparent(value: &str) -> Option<Traceparent> {
    let value = value.trim_matches([' ', '\t']);
    let bytes = value.as_bytes();
    if bytes.len() < 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let version = hex(&value[0..2])?;
    let well_sized = match version {
        0xff => false,
        0x00 => bytes.len() == 55,
        _ => bytes.len() == 55 || bytes[55] == b'-',
    };
    if !well_sized {
        return None;
    }
    let trace_id = TraceId::from(u128::from_str_radix(lower_hex(&value[3..35])?, 16).ok()?);
    let span_id = SpanId::from(u64::from_str_radix(lower_hex(&value[36..52])?, 16).ok()?);
    let flags = hex(&value[53..55])?;
    (trace_id != TraceId::INVALID && span_id != SpanId::INVALID).then_some(Traceparent {
        trace_id,
        span_id,
        flags,
    })
}

/// `digits` when they are lower-case hex digits only.
fn lower_hex(digits: &str) -> Option<&str> {
    digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then_some(digits)
}

/// The byte written as two lower-case hex digits.
fn hex(digits: &str) -> Option<u8> {
    u8::from_str_radix(lower_hex(digits)?, 16).ok()
}

/// The members of all `tracestate` header lines in order, or `None` when they do not form one
/// valid list. Empty members, and the optional white space around members, are skipped.
fn tracestate_members<'a>(lines: &[&'a str]) -> Option<Vec<(&'a str, &'a str)>> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for member in lines.iter().flat_map(|line| line.split(',')) {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=')?;
        let duplicate = members.iter().any(|(seen, _)| *seen == key);
        if duplicate || !valid_key(key) || !valid_value(value) || members.len() == MAX_MEMBERS {
            return None;
        }
        members.push((key, value));
    }
    Some(members)
}

/// A key of the Level 2 grammar: `simple-key` (a lower-case letter, then up to 255 of
/// `a-z0-9_-*/`) or `tenant@system` (a tenant of 1 to 241 such characters starting with a
/// letter or digit, a system of 1 to 14 starting with a letter).
fn valid_key(key: &str) -> bool {
    let key_chars = |part: &str| {
        part.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
        })
    };
    let starts = |part: &str, first: fn(&u8) -> bool| part.as_bytes().first().is_some_and(first);
    match key.split_once('@') {
        None => key.len() <= 256 && starts(key, u8::is_ascii_lowercase) && key_chars(key),
        Some((tenant, system)) => {
            tenant.len() <= 241
                && starts(tenant, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && key_chars(tenant)
                && system.len() <= 14
                && starts(system, u8::is_ascii_lowercase)
                && key_chars(system)
        }
    }
}

/// A value of the grammar: 1 to 256 printable ASCII characters other than `,` and `=`, the
/// last not a space.
fn valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

/// The members as the SDK's `TraceState`, which refuses a few keys the specification allows.
/// Those members still leave with the received header while the tracestate is unchanged.
fn sdk_trace_state(members: &[(&str, &str)]) -> TraceState {
    TraceState::from_key_value(members.iter().copied()).unwrap_or_else(|_| {
        let holdable = members
            .iter()
            .copied()
            .filter(|member| TraceState::from_key_value([*member]).is_ok());
        TraceState::from_key_value(holdable).unwrap_or_default()
    })
}
