//! Flushing and shutting the pipeline down under a deadline.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::Error;

/// Flushes and shuts the telemetry pipeline down when dropped or shut down.
///
/// Keep it alive for as long as the service runs. Prefer [`TelemetryGuard::shutdown`] in async
/// code: it waits without holding a runtime thread. Dropping the guard does the same work and
/// blocks the dropping thread for at most the shutdown deadline.
#[must_use = "dropping the guard shuts telemetry down"]
#[derive(Debug)]
pub struct TelemetryGuard {
    providers: Option<(SdkTracerProvider, SdkMeterProvider)>,
    timeout: Duration,
}

impl TelemetryGuard {
    pub(crate) fn new(
        tracer_provider: SdkTracerProvider,
        meter_provider: SdkMeterProvider,
        timeout: Duration,
    ) -> Self {
        Self {
            providers: Some((tracer_provider, meter_provider)),
            timeout,
        }
    }

    pub(crate) fn disabled(timeout: Duration) -> Self {
        Self {
            providers: None,
            timeout,
        }
    }

    /// Whether an export pipeline is installed (`false` with `OTEL_SDK_DISABLED=true`).
    pub fn is_active(&self) -> bool {
        self.providers.is_some()
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
        let Some(providers) = self.providers.take() else {
            return Ok(());
        };
        let timeout = self.timeout;
        let done = start_shutdown(providers, timeout);
        tokio::task::spawn_blocking(move || wait(&done, timeout))
            .await
            .map_err(|err| Error::Shutdown(err.to_string()))?
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let Some(providers) = self.providers.take() else {
            return;
        };
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

/// Shuts both providers down on their own threads; the receiver gets one result per provider.
fn start_shutdown(
    (tracer_provider, meter_provider): (SdkTracerProvider, SdkMeterProvider),
    timeout: Duration,
) -> mpsc::Receiver<Result<(), String>> {
    let (sender, receiver) = mpsc::channel();
    let traces = sender.clone();
    thread::spawn(move || {
        let result = tracer_provider.shutdown_with_timeout(timeout);
        let _ = traces.send(result.map_err(|err| format!("traces: {err}")));
    });
    thread::spawn(move || {
        let result = meter_provider.shutdown_with_timeout(timeout);
        let _ = sender.send(result.map_err(|err| format!("metrics: {err}")));
    });
    receiver
}

/// Waits for both providers until the deadline.
fn wait(done: &mpsc::Receiver<Result<(), String>>, timeout: Duration) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + timeout;
    let mut failures = Vec::new();
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match done.recv_timeout(left) {
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
