//! Log lines and log records in the organisation's schema.
//!
//! - On stdout, [`JsonLines`] writes one JSON object per event through tracing-subscriber's
//!   formatting layer, with the keys of the policy's log schema in its order.
//! - Over OTLP, every event becomes a log record through opentelemetry-appender-tracing;
//!   [`BridgedRecords`] gives each the time of its event and leaves the code location out.

use std::fmt;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{LogRecord as _, Severity};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use super::defaults::{
    LEVEL_KEY, MESSAGE_KEY, SERVICE_NAME_KEY, SPAN_ID_KEY, TIME_KEY, TRACE_FLAGS_KEY, TRACE_ID_KEY,
};

/// The event format of the JSON log lines on stdout.
///
/// A line holds the time (RFC 3339, UTC), the level (`DEBUG`, `INFO`, `WARN`, `ERROR`; `TRACE`
/// events count as `DEBUG`), the message and the service name; inside a span with a valid
/// OpenTelemetry context the trace id, span id and trace flags, hex-encoded as in
/// `traceparent`; then the event's fields. Events forwarded from the `log` crate lose their
/// `log.*` metadata fields.
///
/// ```text
/// {"time":"2026-01-02T03:04:05.678901Z","level":"INFO","msg":"saying hello","service.name":"ledger","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01"}
/// ```
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// use ledger::telemetry::JsonLines;
///
/// let layer = JsonLines::new("ledger").layer(std::io::stdout);
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || tracing::info!(answer = 42, "ready"));
/// ```
#[derive(Clone, Debug)]
pub struct JsonLines {
    service_name: String,
}

impl JsonLines {
    /// Lines of the service `service_name`.
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
        }
    }

    /// A formatting layer that writes these lines to the writers `make_writer` makes, such as
    /// `std::io::stdout`.
    pub fn layer<S, W>(
        self,
        make_writer: W,
    ) -> tracing_subscriber::fmt::Layer<S, DefaultFields, Self, W>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
        W: for<'writer> MakeWriter<'writer> + 'static,
    {
        tracing_subscriber::fmt::layer()
            .event_format(self)
            .with_writer(make_writer)
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        // The OpenTelemetry context of the span the event happens in, made current by the layers.
        let ids = opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let span_context = span.span_context();
            span_context.is_valid().then(|| {
                (
                    span_context.trace_id().to_string(),
                    span_context.span_id().to_string(),
                    format!("{:02x}", span_context.trace_flags().to_u8()),
                )
            })
        });
        let line = Line {
            time,
            level: level_name(*event.metadata().level()),
            service_name: &self.service_name,
            ids,
            fields,
        };
        let json = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{json}")
    }
}

/// The level as the policy names it.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// One line, its keys in the policy's order.
struct Line<'a> {
    time: String,
    level: &'static str,
    service_name: &'a str,
    ids: Option<(String, String, String)>,
    fields: Fields,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(TIME_KEY, &self.time)?;
        map.serialize_entry(LEVEL_KEY, self.level)?;
        map.serialize_entry(MESSAGE_KEY, &self.fields.message)?;
        map.serialize_entry(SERVICE_NAME_KEY, self.service_name)?;
        if let Some((trace_id, span_id, trace_flags)) = &self.ids {
            map.serialize_entry(TRACE_ID_KEY, trace_id)?;
            map.serialize_entry(SPAN_ID_KEY, span_id)?;
            map.serialize_entry(TRACE_FLAGS_KEY, trace_flags)?;
        }
        for (key, value) in &self.fields.others {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The fields of one event: its message, and the others in the order they were recorded.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => {
                self.message = match value {
                    Value::String(message) => message,
                    other => other.to_string(),
                }
            }
            // The metadata of an event from the `log` crate, already in the line's own keys.
            name if name.starts_with("log.") => {}
            name => self.others.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::from(format!("{value:?}")));
    }
}

/// A log processor that completes the records of the `tracing` bridge before `P` exports
/// them.
///
/// The bridge sets only the time the SDK observed a record and names each record after its
/// code location (`event src/app/mod.rs:97`); the first is filled in as the event's time, the
/// second left out, like the extra span attributes of `tracing-opentelemetry`. `TRACE` events
/// count as `DEBUG`, the lowest level of the organisation's schema.
#[derive(Debug)]
pub struct BridgedRecords<P> {
    inner: P,
}

impl<P> BridgedRecords<P> {
    /// Completes the records `inner` exports.
    pub fn new(inner: P) -> Self {
        Self { inner }
    }
}

impl<P: LogProcessor> LogProcessor for BridgedRecords<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        if let (None, Some(observed)) = (record.timestamp(), record.observed_timestamp()) {
            record.set_timestamp(observed);
        }
        // An empty event name is not sent.
        record.set_event_name("");
        if record.severity_number() == Some(Severity::Trace) {
            record.set_severity_number(Severity::Debug);
            record.set_severity_text("DEBUG");
        }
        self.inner.emit(record, scope);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
