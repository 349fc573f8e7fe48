//! Flushing and shutting the pipeline down under a deadline.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::task::JoinHandle;

use super::Error;

/// One provider of the pipeline.
#[derive(Debug)]
pub(crate) enum Provider {
    Traces(SdkTracerProvider),
    Metrics(SdkMeterProvider),
    Logs(SdkLoggerProvider),
}

impl Provider {
    fn signal(&self) -> &'static str {
        match self {
            Provider::Traces(_) => "traces",
            Provider::Metrics(_) => "metrics",
            Provider::Logs(_) => "logs",
        }
    }

    fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Provider::Traces(provider) => provider.shutdown_with_timeout(timeout),
            Provider::Metrics(provider) => provider.shutdown_with_timeout(timeout),
            Provider::Logs(provider) => provider.shutdown_with_timeout(timeout),
        }
    }
}

/// Flushes and shuts the telemetry pipeline down when dropped or shut down, and stops the
/// admin listener and the flags file watcher.
///
/// Keep it alive for as long as the service runs. Prefer [`TelemetryGuard::shutdown`] in async
/// code: it waits without holding a runtime thread. Dropping the guard does the same work and
/// blocks the dropping thread for at most the shutdown deadline.
#[must_use = "dropping the guard shuts telemetry down"]
#[derive(Debug)]
pub struct TelemetryGuard {
    providers: Vec<Provider>,
    tasks: Vec<JoinHandle<()>>,
    timeout: Duration,
}

impl TelemetryGuard {
    pub(crate) fn new(
        providers: Vec<Provider>,
        tasks: Vec<JoinHandle<()>>,
        timeout: Duration,
    ) -> Self {
        Self {
            providers,
            tasks,
            timeout,
        }
    }

    /// Whether an export pipeline is installed (`false` with `OTEL_SDK_DISABLED=true`).
    #[must_use]
    pub fn is_active(&self) -> bool {
        !self.providers.is_empty()
    }

    /// Flushes and shuts every provider down, in parallel, within the shutdown deadline.
    ///
    /// The SDK's shutdown blocks, so it runs on its own threads; this future only waits.
    ///
    /// # Errors
    ///
    /// [`Error::ShutdownTimedOut`] when the deadline passes first (telemetry still queued is
    /// lost), [`Error::Shutdown`] when a provider reports a failure.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.stop_tasks();
        let providers = std::mem::take(&mut self.providers);
        if providers.is_empty() {
            return Ok(());
        }
        let timeout = self.timeout;
        let done = start_shutdown(providers, timeout);
        tokio::task::spawn_blocking(move || wait(&done, timeout))
            .await
            .map_err(|err| Error::Shutdown(err.to_string()))?
    }

    fn stop_tasks(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.stop_tasks();
        let providers = std::mem::take(&mut self.providers);
        if providers.is_empty() {
            return;
        }
        let done = start_shutdown(providers, self.timeout);
        let result = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| wait(&done, self.timeout))
            }
            _ => wait(&done, self.timeout),
        };
        if let Err(err) = result {
            eprintln!("{err}");
        }
    }
}

/// Providers shutting down, each on its own thread.
struct Pending {
    outcomes: mpsc::Receiver<Result<(), String>>,
    count: usize,
}

/// Shuts every provider down on its own thread.
fn start_shutdown(providers: Vec<Provider>, timeout: Duration) -> Pending {
    let (sender, outcomes) = mpsc::channel();
    let count = providers.len();
    for provider in providers {
        let sender = sender.clone();
        thread::spawn(move || {
            let outcome = provider
                .shutdown(timeout)
                .map_err(|err| format!("{}: {err}", provider.signal()));
            let _ = sender.send(outcome);
        });
    }
    Pending { outcomes, count }
}

/// Waits for every provider until the deadline.
fn wait(pending: &Pending, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let mut failures = Vec::new();
    for _ in 0..pending.count {
        let left = deadline.saturating_duration_since(Instant::now());
        match pending.outcomes.recv_timeout(left) {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => failures.push(failure),
            Err(_) => return Err(Error::ShutdownTimedOut(timeout)),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Shutdown(failures.join("; ")))
    }
}
