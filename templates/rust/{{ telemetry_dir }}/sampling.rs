//! Which root spans are sampled.
//!
//! The policy's sampler is `ParentBased(RateLimited(ratio))`: a child follows its parent's
//! decision; a root is sampled when its trace id falls under the ratio and a token is left in
//! the per-process token bucket of [`RateLimited`]. The ratio is chosen at start-up from the
//! environment the service runs in ([`defaults::sampling_ratio_for`]) and can change at run time
//! ([`switch::set_sampling_ratio`]). With remote sampling on, the Jaeger remote sampling
//! strategy served by the agent collector decides instead; the policy's root sampler applies
//! until the first strategy arrives and whenever the last poll of the endpoint failed.
//!
//! `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` replace the whole composition with the
//! sampler they name, as the specification defines them; an unknown name logs a warning and
//! keeps the policy's sampler.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{Request, Response};
use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError};
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

use super::init::{Warnings, non_empty_var};
use super::{Config, KillSwitchSampler, defaults, init, switch};

/// The name of the sampler in use, as `OTEL_TRACES_SAMPLER` spells it.
static SAMPLER_NAME: RwLock<&str> = RwLock::new("parentbased_traceidratio");

/// The name of the sampler the pipeline was built with, as `OTEL_TRACES_SAMPLER` spells it.
pub fn sampler_name() -> &'static str {
    *SAMPLER_NAME.read().unwrap_or_else(PoisonError::into_inner)
}

/// Samples a root span with the probability of [`switch::sampling_ratio`] at the moment it
/// starts: `TraceIdRatioBased`, with a ratio that can change while the service runs.
///
/// It decides like `TraceIdRatioBased` in every language: the same trace id and ratio give the
/// same decision in Go and Rust.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuntimeRatio;

impl ShouldSample for RuntimeRatio {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        Sampler::TraceIdRatioBased(switch::sampling_ratio()).should_sample(
            parent_context,
            trace_id,
            name,
            span_kind,
            attributes,
            links,
        )
    }
}

/// Lets at most `per_second` of the spans `inner` samples through per second; the rest are
/// dropped.
///
/// A token bucket holds up to `per_second` tokens and gains `per_second` tokens a second; each
/// sampled span takes one, and a span that finds the bucket empty is dropped. Bursts up to the
/// bucket's size pass, and the long-run rate never exceeds the limit. Put it under
/// `ParentBased` so that it sees root spans only: children follow their root.
#[derive(Clone, Debug)]
pub struct RateLimited {
    inner: Box<dyn ShouldSample>,
    bucket: Arc<Mutex<TokenBucket>>,
}

impl RateLimited {
    /// Limits `inner` to `per_second` sampled spans a second.
    pub fn new(inner: impl Into<Box<dyn ShouldSample>>, per_second: u32) -> Self {
        Self {
            inner: inner.into(),
            bucket: Arc::new(Mutex::new(TokenBucket::new(f64::from(per_second)))),
        }
    }
}

impl ShouldSample for RateLimited {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let mut result =
            self.inner
                .should_sample(parent_context, trace_id, name, span_kind, attributes, links);
        if result.decision == SamplingDecision::RecordAndSample {
            let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            if !bucket.take(Instant::now()) {
                result.decision = SamplingDecision::Drop;
                result.attributes.clear();
            }
        }
        result
    }
}

/// The tokens of [`RateLimited`].
#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens that regains `capacity` tokens a second.
    fn new(capacity: f64) -> Self {
        Self {
            capacity,
            tokens: capacity,
            refilled: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.capacity).min(self.capacity);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Where Jaeger remote sampling strategies are fetched from, and how often.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteSampling {
    /// The strategies endpoint; `?service=NAME` is added to it.
    pub endpoint: String,
    /// How often the strategy is fetched again.
    pub poll_interval: Duration,
}

impl Default for RemoteSampling {
    /// The policy's endpoint and poll interval.
    fn default() -> Self {
        Self {
            endpoint: defaults::REMOTE_SAMPLING_ENDPOINT.to_owned(),
            poll_interval: defaults::REMOTE_SAMPLING_POLL_INTERVAL,
        }
    }
}

/// The root sampling ratio at start-up: the one set in `config`, or the policy's for
/// `environment`.
#[must_use]
pub fn initial_ratio(config: &Config, environment: &str) -> f64 {
    config
        .sampling_ratio()
        .unwrap_or_else(|| defaults::sampling_ratio_for(environment))
}

/// Builds the sampler of the pipeline: `OTEL_TRACES_SAMPLER` when set and known, the policy's
/// otherwise, behind the kill switch. Sets the process's sampling ratio to its start-up value.
pub(crate) fn build(
    config: &Config,
    environment: &str,
    service_name: &str,
    warnings: &mut Warnings,
) -> KillSwitchSampler {
    switch::set_sampling_ratio(initial_ratio(config, environment));
    let (name, sampler) = from_env(config, service_name, warnings).unwrap_or_else(|| {
        let (name, root) = match config.remote_sampling() {
            Some(remote) => (
                "parentbased_jaeger_remote",
                remote_or_policy(remote, config, service_name, warnings),
            ),
            None => ("parentbased_traceidratio", policy_root(config)),
        };
        (name, Box::new(Sampler::ParentBased(root)))
    });
    *SAMPLER_NAME.write().unwrap_or_else(PoisonError::into_inner) = name;
    KillSwitchSampler::new(sampler)
}

/// The sampler `OTEL_TRACES_SAMPLER` names, or `None` when it is unset or unknown.
fn from_env(
    config: &Config,
    service_name: &str,
    warnings: &mut Warnings,
) -> Option<(&'static str, Box<dyn ShouldSample>)> {
    let name = non_empty_var("OTEL_TRACES_SAMPLER")?;
    let arg = non_empty_var("OTEL_TRACES_SAMPLER_ARG");
    let (name, sampler): (&'static str, Box<dyn ShouldSample>) = match name.trim() {
        "always_on" => ("always_on", Box::new(Sampler::AlwaysOn)),
        "always_off" => ("always_off", Box::new(Sampler::AlwaysOff)),
        "traceidratio" => {
            ratio_arg(arg.as_deref(), warnings);
            ("traceidratio", Box::new(RuntimeRatio))
        }
        "parentbased_always_on" => (
            "parentbased_always_on",
            Box::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
        ),
        "parentbased_always_off" => (
            "parentbased_always_off",
            Box::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOff))),
        ),
        "parentbased_traceidratio" => {
            ratio_arg(arg.as_deref(), warnings);
            (
                "parentbased_traceidratio",
                Box::new(Sampler::ParentBased(Box::new(RuntimeRatio))),
            )
        }
        "jaeger_remote" => {
            let remote = remote_arg(arg.as_deref(), warnings);
            (
                "jaeger_remote",
                remote_or_policy(&remote, config, service_name, warnings),
            )
        }
        "parentbased_jaeger_remote" => {
            let remote = remote_arg(arg.as_deref(), warnings);
            let root = remote_or_policy(&remote, config, service_name, warnings);
            (
                "parentbased_jaeger_remote",
                Box::new(Sampler::ParentBased(root)),
            )
        }
        other => {
            warnings.push(format!(
                "unknown OTEL_TRACES_SAMPLER={other:?}: using the policy's sampler"
            ));
            return None;
        }
    };
    Some((name, sampler))
}

/// Applies the ratio of `OTEL_TRACES_SAMPLER_ARG`; without one the policy's ratio stays.
fn ratio_arg(arg: Option<&str>, warnings: &mut Warnings) {
    let Some(arg) = arg else {
        return;
    };
    match arg.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => switch::set_sampling_ratio(ratio),
        _ => warnings.push(format!(
            "OTEL_TRACES_SAMPLER_ARG={arg:?} is not a ratio from 0 to 1: using the policy's ratio"
        )),
    }
}

/// The remote sampling settings of `OTEL_TRACES_SAMPLER_ARG`
/// (`endpoint=URL,pollingIntervalMs=N,initialSamplingRate=R`); the policy's for what it leaves
/// out. `initialSamplingRate` replaces the policy's ratio, which applies until the first strategy
/// arrives and while the endpoint cannot be reached.
fn remote_arg(arg: Option<&str>, warnings: &mut Warnings) -> RemoteSampling {
    let mut remote = RemoteSampling::default();
    for pair in arg.unwrap_or_default().split(',').map(str::trim) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = value.trim();
        match key.trim() {
            "endpoint" => value.clone_into(&mut remote.endpoint),
            "pollingIntervalMs" => match value.parse::<u64>() {
                Ok(ms) if ms > 0 => remote.poll_interval = Duration::from_millis(ms),
                _ => warnings.push(format!(
                    "OTEL_TRACES_SAMPLER_ARG: pollingIntervalMs={value:?} is not a positive \
                     number of milliseconds: polling every {:?}",
                    remote.poll_interval
                )),
            },
            "initialSamplingRate" => ratio_arg(Some(value), warnings),
            other => warnings.push(format!(
                "OTEL_TRACES_SAMPLER_ARG: unknown key {other:?} ignored"
            )),
        }
    }
    remote
}

/// The policy's root sampler: [`RuntimeRatio`], rate limited unless the limit is 0.
fn policy_root(config: &Config) -> Box<dyn ShouldSample> {
    match config.max_root_traces_per_second() {
        0 => Box::new(RuntimeRatio),
        limit => Box::new(RateLimited::new(RuntimeRatio, limit)),
    }
}

/// The remote sampler of `remote` with the policy's root sampler as its fallback, or the
/// policy's root sampler alone when the remote sampler cannot be built.
fn remote_or_policy(
    remote: &RemoteSampling,
    config: &Config,
    service_name: &str,
    warnings: &mut Warnings,
) -> Box<dyn ShouldSample> {
    match RemoteSampler::new(remote, config, service_name) {
        Ok(sampler) => Box::new(sampler),
        Err(reason) => {
            warnings.push(format!(
                "remote sampling from {:?} is off: {reason}; sampling by ratio",
                remote.endpoint
            ));
            policy_root(config)
        }
    }
}

/// Samples roots by the strategy the Jaeger remote sampler fetched from the agent collector
/// while the endpoint answers, and by the policy's root sampler otherwise: before the first
/// strategy arrives and whenever the last poll failed. (The SDK's remote sampler alone would
/// keep the last strategy however long the endpoint is gone.)
#[derive(Clone, Debug)]
pub struct RemoteSampler {
    remote: Sampler,
    fallback: Box<dyn ShouldSample>,
    endpoint: Arc<EndpointState>,
}

impl RemoteSampler {
    /// A remote sampler polling `remote` on the current Tokio runtime.
    fn new(remote: &RemoteSampling, config: &Config, service_name: &str) -> Result<Self, String> {
        let uri: http::Uri = remote
            .endpoint
            .parse()
            .map_err(|err| format!("the endpoint is not a URL ({err})"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err("the endpoint is not an http:// or https:// URL".to_owned());
        }
        // The sampler polls from a task of the runtime it is built on.
        tokio::runtime::Handle::try_current()
            .map_err(|_| "it needs a Tokio runtime to poll from".to_owned())?;
        init::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(config.export_timeout())
            .build()
            .map_err(|err| format!("no HTTP client ({err})"))?;
        let endpoint = Arc::new(EndpointState::new(remote.endpoint.clone()));
        let fallback = policy_root(config);
        let client = PollingClient {
            inner: client,
            endpoint: Arc::clone(&endpoint),
        };
        let default = Fallback(fallback.clone());
        let remote = Sampler::jaeger_remote(runtime::Tokio, client, default, service_name)
            .with_endpoint(remote.endpoint.as_str())
            .with_update_interval(remote.poll_interval)
            .build()
            .map_err(|err| err.to_string())?;
        Ok(Self {
            remote,
            fallback,
            endpoint,
        })
    }
}

impl ShouldSample for RemoteSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let sampler: &dyn ShouldSample = if self.endpoint.reachable() {
            &self.remote
        } else {
            self.fallback.as_ref()
        };
        sampler.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

/// The policy's root sampler as the default of the SDK's remote sampler, which applies it
/// between a poll that worked and the strategy it fetched.
#[derive(Clone, Debug)]
struct Fallback(Box<dyn ShouldSample>);

impl ShouldSample for Fallback {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        self.0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

/// Whether the last poll of a remote sampling endpoint worked.
#[derive(Debug)]
struct EndpointState {
    endpoint: String,
    /// [`UNPOLLED`], [`REACHABLE`] or [`UNREACHABLE`].
    state: AtomicU8,
}

const UNPOLLED: u8 = 0;
const REACHABLE: u8 = 1;
const UNREACHABLE: u8 = 2;

impl EndpointState {
    fn new(endpoint: String) -> Self {
        Self {
            endpoint,
            state: AtomicU8::new(UNPOLLED),
        }
    }

    fn reachable(&self) -> bool {
        self.state.load(Ordering::Relaxed) == REACHABLE
    }

    /// Records the outcome of a poll; a change is logged, once.
    fn polled(&self, outcome: Result<(), String>) {
        let state = if outcome.is_ok() {
            REACHABLE
        } else {
            UNREACHABLE
        };
        if self.state.swap(state, Ordering::Relaxed) == state {
            return;
        }
        match outcome {
            Ok(()) => tracing::info!(
                endpoint = %self.endpoint,
                "sampling with the strategy of the remote sampling endpoint"
            ),
            Err(error) => tracing::warn!(
                endpoint = %self.endpoint,
                %error,
                "remote sampling endpoint unreachable, sampling with the organisation's ratio"
            ),
        }
    }
}

/// The HTTP client of the remote sampler: it records whether each poll got a strategy, and
/// hands the SDK's sampler the strategy in the shape it reads.
#[derive(Debug)]
struct PollingClient {
    inner: reqwest::Client,
    endpoint: Arc<EndpointState>,
}

#[async_trait]
impl HttpClient for PollingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let response = self.inner.send_bytes(request).await;
        let (outcome, response) = match response {
            Ok(answer) if answer.status().is_success() => {
                let (parts, body) = answer.into_parts();
                match readable_strategy(&body) {
                    Ok(strategy) => (Ok(()), Ok(Response::from_parts(parts, strategy))),
                    Err(reason) => (Err(reason.clone()), Err(reason.into())),
                }
            }
            Ok(answer) => (
                Err(format!("the endpoint answered {}", answer.status())),
                Ok(answer),
            ),
            Err(err) => (Err(err.to_string()), Err(err)),
        };
        self.endpoint.polled(outcome);
        response
    }
}

/// A sampling strategy as the Jaeger remote sampling API sends it, rewritten with every field
/// the SDK's remote sampler requires.
///
/// The API's JSON is protobuf's: a field at its zero value is left out (a rate of 0, an empty
/// list, `strategyType` for a probabilistic strategy), and `strategyType` may be the enum's
/// number; the SDK's sampler reads neither. As the API advises, which strategy applies is told
/// by the fields present (`operationSampling`, then `rateLimitingSampling`, then
/// `probabilisticSampling`), never by `strategyType`.
fn readable_strategy(body: &[u8]) -> Result<Bytes, String> {
    use serde_json::{Value, json};

    /// Fills in the fields of `zeros` that `value`, an object, leaves out.
    fn fill(value: Option<&mut Value>, zeros: Value) {
        if let (Some(Value::Object(fields)), Value::Object(zeros)) = (value, zeros) {
            for (name, zero) in zeros {
                fields.entry(name).or_insert(zero);
            }
        }
    }

    let mut strategy: Value =
        serde_json::from_slice(body).map_err(|err| format!("the strategy is not JSON: {err}"))?;
    let answer = strategy
        .as_object_mut()
        .ok_or("the strategy is not a JSON object")?;
    let kind = if answer.contains_key("operationSampling")
        || !answer.contains_key("rateLimitingSampling")
    {
        "PROBABILISTIC"
    } else {
        "RATE_LIMITING"
    };
    answer.insert("strategyType".to_owned(), json!(kind));
    fill(
        answer.get_mut("probabilisticSampling"),
        json!({"samplingRate": 0.0}),
    );
    fill(
        answer.get_mut("rateLimitingSampling"),
        json!({"maxTracesPerSecond": 0}),
    );
    fill(
        answer.get_mut("operationSampling"),
        json!({
            "defaultSamplingProbability": 0.0,
            "defaultLowerBoundTracesPerSecond": 0.0,
            "defaultUpperBoundTracesPerSecond": 0.0,
            "perOperationStrategies": [],
        }),
    );
    let operations = answer
        .get_mut("operationSampling")
        .and_then(|sampling| sampling.get_mut("perOperationStrategies"));
    if let Some(Value::Array(operations)) = operations {
        for operation in operations {
            fill(
                Some(&mut *operation),
                json!({"operation": "", "probabilisticSampling": {}}),
            );
            fill(
                operation.get_mut("probabilisticSampling"),
                json!({"samplingRate": 0.0}),
            );
        }
    }
    serde_json::to_vec(&strategy)
        .map(Bytes::from)
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_bursts_up_to_its_size_then_the_rate() {
        let mut bucket = TokenBucket::new(10.0);
        let start = bucket.refilled;
        let taken = (0..25).filter(|_| bucket.take(start)).count();
        assert_eq!(taken, 10, "a full bucket lets its capacity through at once");
        // Half a second later, half the capacity has come back.
        let later = start + Duration::from_millis(500);
        let taken = (0..25).filter(|_| bucket.take(later)).count();
        assert_eq!(taken, 5);
        // Refills never exceed the capacity.
        let much_later = later + Duration::from_secs(60);
        let taken = (0..25).filter(|_| bucket.take(much_later)).count();
        assert_eq!(taken, 10);
    }

    #[test]
    fn the_endpoint_going_away_and_coming_back_is_logged_once_each() {
        let logged = Arc::new(Mutex::new(Vec::new()));
        let writer = Lines(Arc::clone(&logged));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        let endpoint = EndpointState::new("http://agent:5778/sampling".to_owned());
        tracing::subscriber::with_default(subscriber, || {
            assert!(!endpoint.reachable(), "nothing fetched yet");
            endpoint.polled(Ok(()));
            endpoint.polled(Ok(()));
            assert!(endpoint.reachable());
            endpoint.polled(Err("connection refused".to_owned()));
            endpoint.polled(Err("connection refused".to_owned()));
            assert!(!endpoint.reachable());
            endpoint.polled(Ok(()));
            assert!(endpoint.reachable());
        });
        let logged = logged.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&logged);
        assert_eq!(text.matches("unreachable").count(), 1, "{text}");
        assert_eq!(
            text.matches("sampling with the strategy").count(),
            2,
            "{text}"
        );
    }

    /// Log output kept in memory.
    #[derive(Clone)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The strategy `body` becomes, as JSON.
    fn readable(body: &str) -> serde_json::Value {
        let strategy = readable_strategy(body.as_bytes()).expect("a strategy");
        serde_json::from_slice(&strategy).expect("JSON")
    }

    #[test]
    fn strategies_the_collector_sends_become_ones_the_sdk_reads() {
        // Probabilistic: protobuf's JSON leaves the enum's zero value out.
        let probabilistic = readable(r#"{"probabilisticSampling":{"samplingRate":0.25}}"#);
        assert_eq!(probabilistic["strategyType"], "PROBABILISTIC");
        assert_eq!(probabilistic["probabilisticSampling"]["samplingRate"], 0.25);
        // A rate of 0 is left out too.
        let never = readable(r#"{"probabilisticSampling":{}}"#);
        assert_eq!(never["probabilisticSampling"]["samplingRate"], 0.0);
        // Rate limiting, with the enum as its number.
        let limited =
            readable(r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#);
        assert_eq!(limited["strategyType"], "RATE_LIMITING");
        assert_eq!(limited["rateLimitingSampling"]["maxTracesPerSecond"], 5);
        // Per operation, with the defaults left out.
        let operations = readable(
            r#"{"operationSampling":{"defaultSamplingProbability":0.5,
                "perOperationStrategies":[{"operation":"GET /hello",
                "probabilisticSampling":{}}]}}"#,
        );
        assert_eq!(operations["strategyType"], "PROBABILISTIC");
        let sampling = &operations["operationSampling"];
        assert_eq!(sampling["defaultLowerBoundTracesPerSecond"], 0.0);
        assert_eq!(sampling["defaultUpperBoundTracesPerSecond"], 0.0);
        let first = &sampling["perOperationStrategies"][0];
        assert_eq!(first["probabilisticSampling"]["samplingRate"], 0.0);

        assert!(readable_strategy(b"<html>").is_err());
        assert!(readable_strategy(b"[]").is_err());
    }

    #[test]
    fn remote_arg_reads_the_specified_keys() {
        let mut warnings = Warnings::default();
        let remote = remote_arg(
            Some("endpoint=http://agent:5778/sampling, pollingIntervalMs=250"),
            &mut warnings,
        );
        assert_eq!(remote.endpoint, "http://agent:5778/sampling");
        assert_eq!(remote.poll_interval, Duration::from_millis(250));
        assert!(warnings.is_empty());

        let remote = remote_arg(Some("pollingIntervalMs=soon,colour=blue"), &mut warnings);
        assert_eq!(remote, RemoteSampling::default());
        assert_eq!(warnings.len(), 2);
    }
}
