//! Building and installing the telemetry pipeline.

use std::env;
use std::time::Duration;

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{
    MetricExporter, RetryPolicy, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, ShouldSample,
};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use super::attributes::{ACME_OWNER, ACME_TEAM};
use super::{
    Config, Error, JsonLogLayer, KillSwitchFilter, KillSwitchSampler, Protocol, TelemetryGuard,
    defaults, switch,
};

/// Name of the instrumentation scope of every tracer and meter of this crate.
pub const SCOPE_NAME: &str = env!("CARGO_PKG_NAME");

/// Level of the spans sent to OpenTelemetry; `RUST_LOG` only filters log lines, so quieting
/// the logs never loses a trace.
const SPAN_LEVEL: LevelFilter = LevelFilter::INFO;

/// Installs the global telemetry pipeline and returns the guard that flushes it.
///
/// Sets the global tracer and meter providers and propagator, and installs a `tracing`
/// subscriber made of:
///
/// - a [`JsonLogLayer`] writing JSON lines to stdout, filtered by `RUST_LOG` (default `info`);
/// - the `tracing-opentelemetry` layer, behind the [kill switch](super::switch).
///
/// With `OTEL_SDK_DISABLED=true` only the log layer is installed and the kill switch stays off.
///
/// Must be called from within a Tokio runtime: the gRPC exporter spawns its connection there.
///
/// # Errors
///
/// Fails when an `OTEL_*` variable asks for something this service is not built with, when an
/// exporter cannot be built, or when a global subscriber is already installed.
pub fn init(config: Config) -> Result<TelemetryGuard, Error> {
    let logs = JsonLogLayer::new(std::io::stdout).with_filter(env_filter());
    if sdk_disabled() {
        switch::make_unavailable();
        tracing_subscriber::registry().with(logs).try_init()?;
        return Ok(TelemetryGuard::disabled(config.shutdown_timeout()));
    }

    let propagator = propagator()?;
    let resource = resource(&config);
    let span_exporter = span_exporter(&config)?;
    let metric_exporter = metric_exporter(&config)?;

    let tracer_provider = tracer_provider(&config, span_exporter, resource.clone());
    let meter_provider = SdkMeterProvider::builder()
        .with_periodic_exporter(metric_exporter)
        .with_resource(resource)
        .build();

    tracing_subscriber::registry()
        .with(logs)
        .with(tracing_layer(&tracer_provider))
        .try_init()?;
    global::set_text_map_propagator(propagator);
    global::set_tracer_provider(tracer_provider.clone());
    global::set_meter_provider(meter_provider.clone());

    Ok(TelemetryGuard::new(
        tracer_provider,
        meter_provider,
        config.shutdown_timeout(),
    ))
}

/// Whether `OTEL_SDK_DISABLED` turns telemetry off. The SDK does not read it itself.
pub fn sdk_disabled() -> bool {
    env::var("OTEL_SDK_DISABLED").is_ok_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

/// The filter of the log layer: `RUST_LOG`, or `info` when it is unset or invalid.
fn env_filter() -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy()
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of `provider`.
///
/// It sees only spans and events at `INFO` or above, and nothing while the kill switch is off.
pub fn tracing_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SCOPE_NAME))
        .with_filter(KillSwitchFilter.and(SPAN_LEVEL))
}

/// The resource describing this service.
///
/// Generated values come first; `OTEL_RESOURCE_ATTRIBUTES` and then `OTEL_SERVICE_NAME`
/// override them, as the specification orders.
pub fn resource(config: &Config) -> Resource {
    let mut builder = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", config.service_name().to_owned()),
            KeyValue::new("service.namespace", defaults::SERVICE_NAMESPACE),
            KeyValue::new("service.version", config.service_version().to_owned()),
            KeyValue::new(
                "deployment.environment.name",
                config.environment().to_owned(),
            ),
            KeyValue::new(ACME_TEAM, config.team().to_owned()),
            KeyValue::new(ACME_OWNER, config.owner().to_owned()),
        ])
        .with_detectors(&[
            Box::new(TelemetryResourceDetector),
            Box::new(EnvResourceDetector::new()),
        ]);
    if let Some(name) = non_empty_var("OTEL_SERVICE_NAME") {
        builder = builder.with_service_name(name);
    }
    builder.build()
}

/// The sampler: `ParentBased(TraceIdRatioBased(ratio))`, or whatever `OTEL_TRACES_SAMPLER`
/// and `OTEL_TRACES_SAMPLER_ARG` ask for when set, wrapped in the kill switch.
pub fn sampler(config: &Config) -> KillSwitchSampler {
    let sampler: Box<dyn ShouldSample> = if non_empty_var("OTEL_TRACES_SAMPLER").is_some() {
        // The SDK's default configuration parses the variables, with the SDK's own fallbacks.
        opentelemetry_sdk::trace::Config::default().sampler
    } else {
        Box::new(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sampling_ratio(),
        ))))
    };
    KillSwitchSampler::new(sampler)
}

/// A tracer provider exporting to `exporter` through a bounded batch processor.
pub fn tracer_provider<E>(config: &Config, exporter: E, resource: Resource) -> SdkTracerProvider
where
    E: opentelemetry_sdk::trace::SpanExporter + 'static,
{
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(config.max_queue_size())
        .with_max_export_batch_size(config.max_export_batch_size())
        .with_scheduled_delay(config.schedule_delay())
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        )
        .with_sampler(sampler(config))
        .with_resource(resource)
        .build()
}

/// The propagator named by `OTEL_PROPAGATORS`, or by [`defaults::PROPAGATORS`].
///
/// # Errors
///
/// [`Error::UnsupportedPropagator`] for a name other than `tracecontext`, `baggage` or `none`.
pub fn propagator() -> Result<TextMapCompositePropagator, Error> {
    let configured = non_empty_var("OTEL_PROPAGATORS");
    let names: Vec<&str> = match &configured {
        Some(list) => list.split(',').map(str::trim).collect(),
        None => defaults::PROPAGATORS.to_vec(),
    };
    let mut propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    for name in names {
        match name {
            "tracecontext" => propagators.push(Box::new(TraceContextPropagator::new())),
            "baggage" => propagators.push(Box::new(BaggagePropagator::new())),
            "none" | "" => {}
            other => return Err(Error::UnsupportedPropagator(other.to_owned())),
        }
    }
    Ok(TextMapCompositePropagator::new(propagators))
}

/// The OTLP protocol of one signal: its own variable, then the generic one, then the code.
fn protocol(config: &Config, signal: &str) -> Result<Protocol, Error> {
    match non_empty_var(&format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"))
        .or_else(|| non_empty_var("OTEL_EXPORTER_OTLP_PROTOCOL"))
    {
        Some(name) => name.parse(),
        None => Ok(config.protocol()),
    }
}

/// The endpoint to set in code, or `None` when an environment variable provides one; an
/// explicit endpoint would override the variable.
fn endpoint(config: &Config, protocol: Protocol, signal: &str) -> Option<String> {
    if non_empty_var(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")).is_some()
        || non_empty_var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
    {
        return None;
    }
    Some(signal_url(config.endpoint(protocol), protocol, signal))
}

/// The URL of one signal at `base`. Over HTTP an endpoint set in code is used as is, so the
/// signal path (`/v1/traces`) is added here; over gRPC the path comes from the service.
fn signal_url(base: &str, protocol: Protocol, signal: &str) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf => format!(
            "{}/v1/{}",
            base.trim_end_matches('/'),
            signal.to_ascii_lowercase()
        ),
    }
}

/// The timeout to set in code, or `None` when an environment variable provides one.
fn timeout(config: &Config, signal: &str) -> Option<Duration> {
    let from_env = non_empty_var(&format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"))
        .or_else(|| non_empty_var("OTEL_EXPORTER_OTLP_TIMEOUT"));
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

/// Expands to the builder chain shared by the span and metric exporters: the transport, then
/// the endpoint and timeout unless the environment sets them.
macro_rules! otlp_exporter {
    ($builder:expr, $config:expr, $signal:literal) => {{
        let protocol = protocol($config, $signal)?;
        let endpoint = endpoint($config, protocol, $signal);
        let timeout = timeout($config, $signal);
        match protocol {
            Protocol::Grpc => {
                let mut builder = $builder.with_tonic().with_retry_policy(retry_policy());
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(timeout) = timeout {
                    builder = builder.with_timeout(timeout);
                }
                builder.build()?
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
                builder.build()?
            }
        }
    }};
}

/// The OTLP span exporter.
fn span_exporter(config: &Config) -> Result<SpanExporter, Error> {
    Ok(otlp_exporter!(SpanExporter::builder(), config, "TRACES"))
}

/// The OTLP metric exporter.
fn metric_exporter(config: &Config) -> Result<MetricExporter, Error> {
    Ok(otlp_exporter!(MetricExporter::builder(), config, "METRICS"))
}

/// The value of an environment variable, or `None` when it is unset or blank.
fn non_empty_var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_signal_url_gets_the_signal_path() {
        assert_eq!(
            signal_url("http://collector:4318/", Protocol::HttpProtobuf, "TRACES"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            signal_url("http://collector:4317", Protocol::Grpc, "TRACES"),
            "http://collector:4317"
        );
    }

    #[test]
    fn unknown_protocol_is_an_error() {
        assert!(matches!(
            "http/json".parse::<Protocol>(),
            Err(Error::UnsupportedProtocol(_))
        ));
    }
}
