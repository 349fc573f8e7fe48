//! JSON log lines that carry the trace context.

use std::fmt::{self, Write as _};
use std::io::Write as _;

use opentelemetry::trace::TraceContextExt;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::Context;

use super::defaults::{SPAN_ID_KEY, TRACE_ID_KEY};

/// A `tracing` layer that writes each event as one JSON object per line.
///
/// A record holds `timestamp` (RFC 3339, UTC), `level`, `target`, the event's fields
/// (`message` among them) and, inside a span with a valid OpenTelemetry context, the trace and
/// span ids under [`TRACE_ID_KEY`] and [`SPAN_ID_KEY`], hex-encoded as in `traceparent`:
///
/// ```text
/// {"timestamp":"2026-01-02T03:04:05.678901Z","level":"INFO","target":"ledger::app","message":"said hello","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}
/// ```
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// use ledger::telemetry::JsonLogLayer;
///
/// let subscriber = tracing_subscriber::registry().with(JsonLogLayer::new(std::io::stdout));
/// tracing::subscriber::with_default(subscriber, || tracing::info!(answer = 42, "ready"));
/// ```
#[derive(Debug)]
pub struct JsonLogLayer<W> {
    make_writer: W,
}

impl<W> JsonLogLayer<W>
where
    W: for<'writer> MakeWriter<'writer> + 'static,
{
    /// Writes to the writers made by `make_writer`, for instance `std::io::stdout`.
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

impl<S, W> Layer<S> for JsonLogLayer<W>
where
    S: Subscriber,
    W: for<'writer> MakeWriter<'writer> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut timestamp = String::new();
        // Formatting the clock into a String cannot fail.
        let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));

        let mut record = JsonRecord::default();
        record.push("timestamp", &Value::String(timestamp));
        record.push("level", &Value::String(meta.level().as_str().to_owned()));
        record.push("target", &Value::String(meta.target().to_owned()));
        event.record(&mut record);

        // The OpenTelemetry layer makes the span's context current while the span is entered.
        let cx = opentelemetry::Context::current();
        let span_context = cx.span().span_context().clone();
        if span_context.is_valid() {
            record.push(
                TRACE_ID_KEY,
                &Value::String(span_context.trace_id().to_string()),
            );
            record.push(
                SPAN_ID_KEY,
                &Value::String(span_context.span_id().to_string()),
            );
        }

        let mut line = record.finish();
        line.push('\n');
        // A log line that cannot be written has nowhere else to go.
        let _ = self
            .make_writer
            .make_writer_for(meta)
            .write_all(line.as_bytes());
    }
}

/// Collects the fields of one event as a JSON object.
#[derive(Default)]
struct JsonRecord {
    json: String,
}

impl JsonRecord {
    fn push(&mut self, key: &str, value: &Value) {
        self.json.push(if self.json.is_empty() { '{' } else { ',' });
        // Serialising a string or a `Value` into a String cannot fail.
        let _ = write!(self.json, "{}:{}", Value::String(key.to_owned()), value);
    }

    fn finish(mut self) -> String {
        self.json.push('}');
        self.json
    }
}

impl Visit for JsonRecord {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), &Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), &value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), &value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), &value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), &value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field.name(), &Value::String(format!("{value:?}")));
    }
}
