//! Where each signal goes: OTLP, the console, or nowhere.
//!
//! `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` and `OTEL_LOGS_EXPORTER` list the exporters
//! of their signal: `otlp` (the default), `console` (human-readable lines on stdout) or `none`.
//! Every setting that cannot be honoured logs a warning and falls back: an unknown exporter
//! name is skipped, an unknown OTLP protocol gives way to the configured one, and an OTLP
//! exporter that cannot be built leaves its signal without OTLP export. The service starts
//! either way.

use std::str::FromStr;

use opentelemetry_otlp::{
    LogExporter, MetricExporter, RetryPolicy, SpanExporter, WithExportConfig, WithHttpConfig,
    WithTonicConfig,
};
use opentelemetry_sdk::logs::{self, BatchLogProcessor, LoggerProviderBuilder, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{MeterProviderBuilder, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    self, BatchSpanProcessor, SdkTracerProvider, TracerProviderBuilder,
};
use tonic::transport::ClientTlsConfig;

use super::init::{Warnings, non_empty_var};
use super::{BridgedRecords, Config, Protocol, defaults};

/// A telemetry signal, spelled as in the names of its environment variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
        }
    }
}

/// An exporter `OTEL_*_EXPORTER` may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Destination {
    Otlp,
    Console,
}

/// The tracer provider builder with the span exporters of `OTEL_TRACES_EXPORTER`.
pub(crate) fn tracer_provider(config: &Config, warnings: &mut Warnings) -> TracerProviderBuilder {
    let mut builder = SdkTracerProvider::builder();
    let destinations = destinations(Signal::Traces, warnings);
    if destinations.is_empty() {
        return builder;
    }
    check_batch_variables("OTEL_BSP", warnings);
    for destination in destinations {
        builder = match destination {
            Destination::Otlp => match otlp_span_exporter(config, warnings) {
                Some(exporter) => builder.with_span_processor(
                    BatchSpanProcessor::builder(exporter)
                        .with_batch_config(span_batch_config(config))
                        .build(),
                ),
                None => builder,
            },
            Destination::Console => builder.with_span_processor(
                BatchSpanProcessor::builder(opentelemetry_stdout::SpanExporter::default())
                    .with_batch_config(span_batch_config(config))
                    .build(),
            ),
        };
    }
    builder
}

/// The meter provider builder with the metric exporters of `OTEL_METRICS_EXPORTER`.
pub(crate) fn meter_provider(config: &Config, warnings: &mut Warnings) -> MeterProviderBuilder {
    let mut builder = SdkMeterProvider::builder();
    for destination in destinations(Signal::Metrics, warnings) {
        builder = match destination {
            Destination::Otlp => match otlp_metric_exporter(config, warnings) {
                Some(exporter) => builder.with_periodic_exporter(exporter),
                None => builder,
            },
            Destination::Console => {
                builder.with_periodic_exporter(opentelemetry_stdout::MetricExporter::default())
            }
        };
    }
    builder
}

/// The logger provider builder with the log exporters of `OTEL_LOGS_EXPORTER`.
pub(crate) fn logger_provider(config: &Config, warnings: &mut Warnings) -> LoggerProviderBuilder {
    let mut builder = SdkLoggerProvider::builder();
    let destinations = destinations(Signal::Logs, warnings);
    if destinations.is_empty() {
        return builder;
    }
    check_batch_variables("OTEL_BLRP", warnings);
    for destination in destinations {
        builder = match destination {
            Destination::Otlp => match otlp_log_exporter(config, warnings) {
                Some(exporter) => builder.with_log_processor(BridgedRecords::new(
                    BatchLogProcessor::builder(exporter)
                        .with_batch_config(log_batch_config(config))
                        .build(),
                )),
                None => builder,
            },
            Destination::Console => builder.with_log_processor(BridgedRecords::new(
                BatchLogProcessor::builder(opentelemetry_stdout::LogExporter::default())
                    .with_batch_config(log_batch_config(config))
                    .build(),
            )),
        };
    }
    builder
}

/// The exporters `OTEL_<SIGNAL>_EXPORTER` lists; OTLP when it is unset or names none this
/// service knows, nothing for `none`.
fn destinations(signal: Signal, warnings: &mut Warnings) -> Vec<Destination> {
    let variable = format!("OTEL_{}_EXPORTER", signal.name());
    let Some(list) = non_empty_var(&variable) else {
        return vec![Destination::Otlp];
    };
    let mut destinations = Vec::new();
    let mut none = false;
    for name in list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let destination = match name {
            "otlp" => Destination::Otlp,
            "console" => Destination::Console,
            "none" => {
                none = true;
                continue;
            }
            other => {
                warnings.push(format!(
                    "unknown exporter {other:?} in {variable} skipped: use otlp, console or none"
                ));
                continue;
            }
        };
        if !destinations.contains(&destination) {
            destinations.push(destination);
        }
    }
    if destinations.is_empty() && !none {
        destinations.push(Destination::Otlp);
    }
    destinations
}

/// The batch settings of the span processor: `OTEL_BSP_*` where set, the policy's otherwise.
pub(super) fn span_batch_config(config: &Config) -> trace::BatchConfig {
    // The SDK's builder starts from the OTEL_BSP_* variables; the policy fills in the rest.
    let mut batch = trace::BatchConfigBuilder::default();
    if !env_sets::<usize>("OTEL_BSP_MAX_QUEUE_SIZE") {
        batch = batch.with_max_queue_size(config.max_queue_size());
    }
    if !env_sets::<usize>("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
        batch = batch.with_max_export_batch_size(config.max_export_batch_size());
    }
    if !env_sets::<u64>("OTEL_BSP_SCHEDULE_DELAY") {
        batch = batch.with_scheduled_delay(config.schedule_delay());
    }
    batch.build()
}

/// The batch settings of the log record processor: `OTEL_BLRP_*` where set, the policy's
/// otherwise.
pub(super) fn log_batch_config(config: &Config) -> logs::BatchConfig {
    let mut batch = logs::BatchConfigBuilder::default();
    if !env_sets::<usize>("OTEL_BLRP_MAX_QUEUE_SIZE") {
        batch = batch.with_max_queue_size(config.max_queue_size());
    }
    if !env_sets::<usize>("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE") {
        batch = batch.with_max_export_batch_size(config.max_export_batch_size());
    }
    if !env_sets::<u64>("OTEL_BLRP_SCHEDULE_DELAY") {
        batch = batch.with_scheduled_delay(config.schedule_delay());
    }
    batch.build()
}

/// Whether the variable `name` holds a value the SDK reads itself.
fn env_sets<T: FromStr>(name: &str) -> bool {
    non_empty_var(name).is_some_and(|value| value.trim().parse::<T>().is_ok())
}

/// Warns about the batch variables under `prefix` that are set but are not numbers: the
/// policy's value applies instead.
pub(super) fn check_batch_variables(prefix: &str, warnings: &mut Warnings) {
    for setting in ["MAX_QUEUE_SIZE", "MAX_EXPORT_BATCH_SIZE", "SCHEDULE_DELAY"] {
        let name = format!("{prefix}_{setting}");
        if let Some(value) = non_empty_var(&name).filter(|_| !env_sets::<u64>(&name)) {
            warnings.push(format!(
                "{name}={value:?} is not a number: using the policy's value"
            ));
        }
    }
}

/// The OTLP protocol of one signal: its own variable, then the generic one, then the code.
fn protocol(config: &Config, signal: Signal, warnings: &mut Warnings) -> Protocol {
    let variable = format!("OTEL_EXPORTER_OTLP_{}_PROTOCOL", signal.name());
    let (variable, value) = match non_empty_var(&variable) {
        Some(value) => (variable, value),
        None => match non_empty_var("OTEL_EXPORTER_OTLP_PROTOCOL") {
            Some(value) => ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), value),
            None => return config.protocol(),
        },
    };
    value.parse().unwrap_or_else(|_| {
        warnings.push(format!(
            "unsupported {variable}={value:?}: exporting over {} instead (grpc and \
             http/protobuf are supported)",
            config.protocol()
        ));
        config.protocol()
    })
}

/// The endpoint to set in code, or `None` when an environment variable provides one; an
/// explicit endpoint would override the variable.
fn endpoint(config: &Config, protocol: Protocol, signal: Signal) -> Option<String> {
    let variable = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.name());
    if non_empty_var(&variable).is_some() || non_empty_var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
    {
        return None;
    }
    Some(signal_url(config.endpoint(protocol), protocol, signal))
}

/// The URL of one signal at `base`. Over HTTP an endpoint set in code is used as is, so the
/// signal path (`/v1/traces`) is added here; over gRPC the path comes from the service.
fn signal_url(base: &str, protocol: Protocol, signal: Signal) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf => format!(
            "{}/v1/{}",
            base.trim_end_matches('/'),
            signal.name().to_ascii_lowercase()
        ),
    }
}

/// The timeout to set in code, or `None` when an environment variable provides one.
fn timeout(config: &Config, signal: Signal) -> Option<std::time::Duration> {
    let variable = format!("OTEL_EXPORTER_OTLP_{}_TIMEOUT", signal.name());
    let from_env = non_empty_var(&variable).or_else(|| non_empty_var("OTEL_EXPORTER_OTLP_TIMEOUT"));
    from_env.is_none().then(|| config.export_timeout())
}

/// The exporter retry policy from the organisation policy.
fn retry_policy() -> RetryPolicy {
    if defaults::RETRY_ENABLED {
        RetryPolicy::default()
            .with_max_retries(defaults::RETRY_MAX_RETRIES)
            .with_initial_delay(defaults::RETRY_INITIAL_DELAY)
            .with_max_delay(defaults::RETRY_MAX_DELAY)
    } else {
        RetryPolicy::disabled()
    }
}

/// Expands to the builder chain shared by the OTLP exporters of every signal: the transport,
/// TLS for `https://` endpoints, retries, then the endpoint and timeout unless the environment
/// sets them. `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip`) and the headers variables are read by
/// the exporter itself. Evaluates to `None`, with a warning, when the exporter cannot be built.
macro_rules! otlp_exporter {
    ($builder:expr, $config:expr, $signal:expr, $warnings:expr) => {{
        let protocol = protocol($config, $signal, $warnings);
        let endpoint = endpoint($config, protocol, $signal);
        let timeout = timeout($config, $signal);
        let built = match protocol {
            Protocol::Grpc => {
                let mut builder = $builder
                    .with_tonic()
                    // Used only when the endpoint is https://, with the system's trusted roots.
                    .with_tls_config(ClientTlsConfig::new().with_enabled_roots())
                    .with_retry_policy(retry_policy());
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(timeout) = timeout {
                    builder = builder.with_timeout(timeout);
                }
                builder.build()
            }
            Protocol::HttpProtobuf => {
                let mut builder = $builder
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_retry_policy(retry_policy());
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(timeout) = timeout {
                    builder = builder.with_timeout(timeout);
                }
                builder.build()
            }
        };
        built
            .map_err(|err| {
                $warnings.push(format!(
                    "no OTLP export of {}: {err}",
                    $signal.name().to_ascii_lowercase()
                ))
            })
            .ok()
    }};
}

fn otlp_span_exporter(config: &Config, warnings: &mut Warnings) -> Option<SpanExporter> {
    otlp_exporter!(SpanExporter::builder(), config, Signal::Traces, warnings)
}

fn otlp_metric_exporter(config: &Config, warnings: &mut Warnings) -> Option<MetricExporter> {
    otlp_exporter!(MetricExporter::builder(), config, Signal::Metrics, warnings)
}

fn otlp_log_exporter(config: &Config, warnings: &mut Warnings) -> Option<LogExporter> {
    otlp_exporter!(LogExporter::builder(), config, Signal::Logs, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_signal_url_gets_the_signal_path() {
        assert_eq!(
            signal_url(
                "http://collector:4318/",
                Protocol::HttpProtobuf,
                Signal::Traces
            ),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            signal_url("http://collector:4317", Protocol::Grpc, Signal::Logs),
            "http://collector:4317"
        );
    }

    #[test]
    fn unknown_protocol_is_an_error() {
        assert!("http/json".parse::<Protocol>().is_err());
    }
}
