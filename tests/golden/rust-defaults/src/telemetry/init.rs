//! Building and installing the telemetry pipeline.

use std::env;
use std::path::PathBuf;

use opentelemetry::global::BoxedTracer;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, Key, KeyValue, global};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::BaggagePropagator;
use opentelemetry_sdk::resource::{
    EnvResourceDetector, ResourceDetector, TelemetryResourceDetector,
};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tokio::task::JoinHandle;
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use super::attributes::{ACME_OWNER, ACME_TEAM};
use super::guard::Provider;
use super::resource::ProcessDetector;
use super::{
    Config, JsonLines, KillSwitchFilter, TelemetryGuard, TraceContextPropagator, admin, defaults,
    exporters, flags, sampling, switch,
};

/// Name of the instrumentation scope of every tracer and meter of this crate.
pub const SCOPE_NAME: &str = env!("CARGO_PKG_NAME");

/// The semantic conventions the telemetry of this crate follows.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.43.0";

/// The instrumentation scope of every tracer and meter of this crate.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(SCHEMA_URL)
        .build()
}

/// The tracer of the layers, from the global tracer provider.
pub(crate) fn tracer() -> BoxedTracer {
    global::tracer_with_scope(scope())
}

/// Level of the spans sent to OpenTelemetry; `RUST_LOG` only filters log lines, so quieting
/// the logs never loses a trace.
const SPAN_LEVEL: LevelFilter = LevelFilter::INFO;

/// The crates that carry the telemetry and the service's calls: the SDK and the transports.
///
/// Their events are never exported as log records: a failing export logs, and exporting that
/// record would fail and log again. And they log at `INFO` at most unless `RUST_LOG` names
/// them: `RUST_LOG=debug` shows the service's own debug lines, not every frame and connection.
/// A target matches the crates whose names begin with it (`hyper` covers `hyper_util`).
const TRANSPORT_TARGETS: &[&str] = &[
    "h2",
    "hyper",
    "opentelemetry",
    "reqwest",
    "rustls",
    "tonic",
    "tower",
];

/// The telemetry of this service: its providers, installed as the global ones, and the
/// `tracing` layers that feed them.
///
/// [`init`] is the short way for a service that owns its `tracing` subscriber. An application
/// that builds its own adds the layers to it instead, then starts the rest:
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::util::SubscriberInitExt;
/// use ledger::telemetry::{Config, Telemetry};
///
/// # async fn run() {
/// let telemetry = Telemetry::new(Config::default());
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer()) // the application's own layers
///     .with(telemetry.otel_layers())
///     .init();
/// let guard = telemetry.start();
/// // ... serve until SIGTERM ...
/// guard.shutdown().await.ok();
/// # }
/// ```
#[derive(Debug)]
pub struct Telemetry {
    config: Config,
    service_name: String,
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    warnings: Warnings,
}

impl Telemetry {
    /// Builds the pipeline of `config` and installs its tracer and meter providers and the
    /// propagator as the global ones.
    ///
    /// It never fails: a setting that cannot be honoured falls back and is reported by
    /// [`Telemetry::start`]. With `OTEL_SDK_DISABLED=true` it builds no provider, but still
    /// installs the propagator, so trace context keeps flowing through the service.
    ///
    /// Call it inside a Tokio runtime: the gRPC exporter and the remote sampler run there.
    #[must_use]
    pub fn new(config: Config) -> Self {
        install_tls_provider();
        let mut warnings = Warnings::default();
        global::set_text_map_propagator(build_propagator(&mut warnings));
        if sdk_disabled_warning(&mut warnings) {
            switch::make_unavailable();
            let service_name = non_empty_var("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| config.service_name().to_owned());
            return Self {
                config,
                service_name,
                tracer_provider: None,
                meter_provider: None,
                logger_provider: None,
                warnings,
            };
        }

        let resource = resource(&config);
        let service_name = resource
            .get(&Key::from_static_str("service.name"))
            .map_or_else(|| config.service_name().to_owned(), |name| name.to_string());
        let sampler = sampling::build(&config, &environment(&config), &service_name, &mut warnings);
        let tracer_provider = exporters::tracer_provider(&config, &mut warnings)
            .with_sampler(sampler)
            .with_resource(resource.clone())
            .build();
        let meter_provider = exporters::meter_provider(&config, &mut warnings)
            .with_resource(resource.clone())
            .build();
        let logger_provider = exporters::logger_provider(&config, &mut warnings)
            .with_resource(resource)
            .build();
        global::set_tracer_provider(tracer_provider.clone());
        global::set_meter_provider(meter_provider.clone());
        Self {
            config,
            service_name,
            tracer_provider: Some(tracer_provider),
            meter_provider: Some(meter_provider),
            logger_provider: Some(logger_provider),
            warnings,
        }
    }

    /// Every layer of the service: JSON log lines on stdout filtered by `RUST_LOG` (default
    /// `info`), and the [`otel_layers`](Telemetry::otel_layers).
    pub fn layers<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        JsonLines::new(self.service_name.clone())
            .layer(std::io::stdout)
            .with_filter(env_filter())
            .and_then(self.otel_layers())
    }

    /// The OpenTelemetry layers alone, for an application that writes its own log lines:
    /// spans become OpenTelemetry spans, and events inside or outside them become log records
    /// exported over OTLP (filtered by `RUST_LOG` too). Both stop while the
    /// [kill switch](super::switch) is off; with `OTEL_SDK_DISABLED=true` there are none.
    pub fn otel_layers<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let spans = self.tracer_provider.as_ref().map(tracing_layer);
        let logs = self.logger_provider.as_ref().map(|provider| {
            OpenTelemetryTracingBridge::new(provider).with_filter(
                KillSwitchFilter
                    .and(filter_fn(|meta| {
                        !TRANSPORT_TARGETS
                            .iter()
                            .any(|target| meta.target().starts_with(target))
                    }))
                    .and(env_filter()),
            )
        });
        Layer::and_then(spans, logs)
    }

    /// Logs what fell back while the pipeline was built, then starts the admin listener and the
    /// flags file watcher; returns the guard that stops them and flushes the providers.
    ///
    /// Call it inside the Tokio runtime, after the subscriber with the layers is installed, so
    /// its warnings reach the log.
    pub fn start(self) -> TelemetryGuard {
        self.warnings.emit();
        let tasks: Vec<JoinHandle<()>> = if tokio::runtime::Handle::try_current().is_ok() {
            [admin_listener(&self.config), flags_watcher(&self.config)]
                .into_iter()
                .flatten()
                .collect()
        } else {
            tracing::warn!(
                "telemetry started outside a Tokio runtime: no admin listener, no flags file"
            );
            Vec::new()
        };
        let providers = [
            self.tracer_provider.map(Provider::Traces),
            self.meter_provider.map(Provider::Metrics),
            self.logger_provider.map(Provider::Logs),
        ]
        .into_iter()
        .flatten()
        .collect();
        TelemetryGuard::new(providers, tasks, self.config.shutdown_timeout())
    }
}

/// Installs the global telemetry pipeline of `config` and returns the guard that flushes it.
///
/// Builds a [`Telemetry`], installs a `tracing` subscriber made of its
/// [`layers`](Telemetry::layers) and [starts](Telemetry::start) it. It never fails: a setting
/// that cannot be honoured logs a warning and falls back. When a global `tracing` subscriber is
/// already installed, it logs there what to do instead and goes on without the layers (no
/// spans or log records from `tracing`; propagation, metrics and the admin listener work).
///
/// Call it once, early, inside the Tokio runtime.
pub fn init(config: Config) -> TelemetryGuard {
    let telemetry = Telemetry::new(config);
    if tracing::dispatcher::has_been_set() {
        tracing::warn!(
            "a global tracing subscriber is already installed, so the telemetry layers are not: \
             add Telemetry::new(config).otel_layers() to that subscriber and call \
             Telemetry::start instead of telemetry::init"
        );
    } else if let Err(err) = tracing_subscriber::registry()
        .with(telemetry.layers())
        .try_init()
    {
        tracing::warn!("the telemetry layers could not be installed: {err}");
    }
    telemetry.start()
}

/// Installs rustls's ring crypto provider as the process's default, unless one is installed
/// already.
///
/// Every TLS client of the service takes its provider from there: the OTLP exporters,
/// the remote sampler and the application's reqwest clients. Building a reqwest client before
/// one is installed panics, so [`Telemetry::new`] calls this first; an application that builds
/// a client earlier calls it itself.
pub fn install_tls_provider() {
    // An error means a provider is installed already, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether `OTEL_SDK_DISABLED` turns telemetry off: its value, trimmed, is `true` in any case.
/// The SDK does not read it itself.
#[must_use]
pub fn sdk_disabled() -> bool {
    sdk_disabled_warning(&mut Warnings::default())
}

/// [`sdk_disabled`], with a warning for a value that is neither true nor false.
fn sdk_disabled_warning(warnings: &mut Warnings) -> bool {
    let Ok(value) = env::var("OTEL_SDK_DISABLED") else {
        return false;
    };
    let value = value.trim();
    let disabled = value.eq_ignore_ascii_case("true");
    if !disabled && !value.is_empty() && !value.eq_ignore_ascii_case("false") {
        warnings.push(format!(
            "OTEL_SDK_DISABLED={value:?} is neither true nor false: telemetry stays on"
        ));
    }
    disabled
}

/// The filter of the log layers: `RUST_LOG`, or `info` when it is unset or invalid, with the
/// [`TRANSPORT_TARGETS`] it does not name at `INFO` at most.
fn env_filter() -> EnvFilter {
    let directives = env::var("RUST_LOG").unwrap_or_default();
    let mut filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(&directives);
    let level = directives
        .rsplit(',')
        .find_map(|directive| directive.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);

    if level > LevelFilter::INFO {
        let named = |target: &str| {
            directives
                .split(',')
                .any(|directive| directive.split(['=', '[']).next().map(str::trim) == Some(target))
        };
        for target in TRANSPORT_TARGETS.iter().filter(|target| !named(target)) {
            if let Ok(directive) = format!("{target}=info").parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of `provider`.
///
/// It sees only spans and events at `INFO` or above, and nothing while the kill switch is off.
/// The spans carry the attributes their `tracing` fields name, and the code location, thread
/// and busy and idle times only when [`defaults::SPAN_EXTRA_ATTRIBUTES`] says so.
#[must_use]
pub fn tracing_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let extras = defaults::SPAN_EXTRA_ATTRIBUTES;
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer_with_scope(scope()))
        .with_location(extras)
        .with_threads(extras)
        .with_tracked_inactivity(extras)
        .with_target(extras)
        .with_filter(KillSwitchFilter.and(SPAN_LEVEL))
}

/// The effective `deployment.environment.name`: the value set in `config`, then the one of
/// `OTEL_RESOURCE_ATTRIBUTES`, then [`defaults::ENVIRONMENT`]. It picks the policy's sampling
/// ratio, and the resource carries it.
pub fn environment(config: &Config) -> String {
    config
        .environment()
        .map(str::to_owned)
        .or_else(|| {
            EnvResourceDetector::new()
                .detect()
                .get(&Key::from_static_str("deployment.environment.name"))
                .map(|value| value.to_string())
        })
        .filter(|environment| !environment.is_empty())
        .unwrap_or_else(|| defaults::ENVIRONMENT.to_owned())
}

/// The resource describing this service and the process it runs in.
///
/// Generated values come first, then what is detected about the process (`service.instance.id`,
/// `host.name`, `os.type`, `process.pid`, `process.executable.name`, never the command line);
/// `OTEL_RESOURCE_ATTRIBUTES` and then `OTEL_SERVICE_NAME` override them, as the specification
/// orders, except for an environment set in `config`.
#[must_use]
pub fn resource(config: &Config) -> Resource {
    let mut builder = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", config.service_name().to_owned()),
            KeyValue::new("service.namespace", defaults::SERVICE_NAMESPACE),
            KeyValue::new("service.version", config.service_version().to_owned()),
            KeyValue::new("deployment.environment.name", defaults::ENVIRONMENT),
            KeyValue::new(ACME_TEAM, config.team().to_owned()),
            KeyValue::new(ACME_OWNER, config.owner().to_owned()),
        ])
        .with_detectors(&[
            Box::new(TelemetryResourceDetector),
            Box::new(ProcessDetector),
            Box::new(EnvResourceDetector::new()),
        ]);
    if let Some(environment) = config.environment() {
        builder = builder.with_attribute(KeyValue::new(
            "deployment.environment.name",
            environment.to_owned(),
        ));
    }
    if let Some(name) = non_empty_var("OTEL_SERVICE_NAME") {
        builder = builder.with_service_name(name);
    }
    builder.build()
}

/// A tracer provider exporting to `exporter` through a batch processor with the policy's
/// bounds, sampling with the sampler of `config` (see [`sampling`](super::sampling)).
///
/// For tests and benchmarks of a pipeline of their own; [`Telemetry::new`] builds the
/// service's. Settings that cannot be honoured are logged at once.
pub fn tracer_provider<E>(config: &Config, exporter: E, resource: Resource) -> SdkTracerProvider
where
    E: opentelemetry_sdk::trace::SpanExporter + 'static,
{
    let mut warnings = Warnings::default();
    let service_name = config.service_name().to_owned();
    let sampler = sampling::build(config, &environment(config), &service_name, &mut warnings);
    let batch = opentelemetry_sdk::trace::BatchConfigBuilder::default()
        .with_max_queue_size(config.max_queue_size())
        .with_max_export_batch_size(config.max_export_batch_size())
        .with_scheduled_delay(config.schedule_delay())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        )
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    warnings.emit();
    provider
}

/// The propagators named by `OTEL_PROPAGATORS`, or by [`defaults::PROPAGATORS`]:
/// `tracecontext` ([`TraceContextPropagator`]), `baggage`, `none`. Unknown names are skipped
/// with a warning.
#[must_use]
pub fn propagator() -> TextMapCompositePropagator {
    let mut warnings = Warnings::default();
    let propagator = build_propagator(&mut warnings);
    warnings.emit();
    propagator
}

fn build_propagator(warnings: &mut Warnings) -> TextMapCompositePropagator {
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
            other => warnings.push(format!(
                "unknown propagator {other:?} in OTEL_PROPAGATORS skipped: use tracecontext, \
                 baggage or none"
            )),
        }
    }
    TextMapCompositePropagator::new(propagators)
}

/// The admin listener on `TELEMETRY_ADMIN_ADDR` or the address of `config`, unless it is off.
fn admin_listener(config: &Config) -> Option<JoinHandle<()>> {
    let address = match non_empty_var("TELEMETRY_ADMIN_ADDR") {
        Some(address) if address.trim().eq_ignore_ascii_case("off") => return None,
        Some(address) => address.trim().to_owned(),
        None => config.admin_address()?.to_owned(),
    };
    let listener = std::net::TcpListener::bind(&address)
        .and_then(|listener| {
            listener.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(listener)
        })
        .map_err(|err| {
            tracing::warn!(
                "the telemetry admin listener is off: cannot listen on {address}: {err}"
            );
        })
        .ok()?;
    let token = non_empty_var("TELEMETRY_ADMIN_TOKEN");
    if token.is_none() {
        tracing::info!(
            %address,
            "telemetry admin endpoint is read-only: set TELEMETRY_ADMIN_TOKEN to change flags"
        );
    } else {
        tracing::info!(%address, path = defaults::ADMIN_PATH, "serving the telemetry admin endpoint");
    }
    Some(tokio::spawn(async move {
        if let Err(err) = admin::serve(listener, token).await {
            tracing::warn!("the telemetry admin listener stopped: {err}");
        }
    }))
}

/// The watcher of `TELEMETRY_FLAGS_FILE` or of the flags file of `config`, if there is one.
fn flags_watcher(config: &Config) -> Option<JoinHandle<()>> {
    let path = non_empty_var("TELEMETRY_FLAGS_FILE")
        .map(PathBuf::from)
        .or_else(|| config.flags_file().map(PathBuf::from))?;
    Some(flags::watch_file(path, config.flags_poll_interval()))
}

/// The value of an environment variable, or `None` when it is unset or blank.
pub(crate) fn non_empty_var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// Settings that could not be honoured, logged once the log output is set up. A setting read
/// for several signals is reported once.
#[derive(Debug, Default)]
pub(crate) struct Warnings(Vec<String>);

impl Warnings {
    pub(crate) fn push(&mut self, warning: String) {
        if !self.0.contains(&warning) {
            self.0.push(warning);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn emit(self) {
        for warning in self.0 {
            tracing::warn!("{warning}");
        }
    }
}
