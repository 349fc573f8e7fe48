//! Changing the telemetry flags at run time.
//!
//! Two flags change without a restart: whether telemetry is recorded (`enabled`) and the root
//! sampling ratio (`sampling_ratio`). Every source feeds the same [`apply`], which sets them
//! and logs one `WARN` line saying who changed what:
//!
//! - the [admin listener](super::admin), with a `PUT` of a JSON body;
//! - a JSON file named by `TELEMETRY_FLAGS_FILE`, re-read every
//!   [`FLAGS_POLL_INTERVAL`](super::defaults::FLAGS_POLL_INTERVAL): mounted from a
//!   `ConfigMap`, one edit reaches every replica without a redeploy;
//! - any other source, an `OpenFeature` provider say, that calls [`apply`] with
//!   [`Source::Other`].
//!
//! Both take the same document; either field may be left out:
//!
//! ```json
//! {"enabled": false, "sampling_ratio": 0.05}
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{sampling, switch};

/// A change of the telemetry flags; a field left out stays as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flags {
    /// Switches telemetry on or off.
    pub enabled: Option<bool>,
    /// Sets the probability with which a root span is sampled, from 0 to 1.
    pub sampling_ratio: Option<f64>,
}

impl Flags {
    /// Reads the JSON document `{"enabled": false, "sampling_ratio": 0.05}`.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong: not JSON, an unknown field, a value of the wrong type,
    /// or a ratio outside `0.0..=1.0`.
    ///
    /// ```
    /// use ledger::telemetry::flags::Flags;
    ///
    /// let flags = Flags::from_json(br#"{"enabled": false}"#).unwrap();
    /// assert_eq!(flags.enabled, Some(false));
    /// assert!(Flags::from_json(br#"{"sampling_ratio": 2}"#).is_err());
    /// ```
    pub fn from_json(json: &[u8]) -> Result<Self, String> {
        let flags: Flags = serde_json::from_slice(json).map_err(|err| err.to_string())?;
        match flags.sampling_ratio {
            Some(ratio) if !(0.0..=1.0).contains(&ratio) => {
                Err(format!("sampling_ratio {ratio} is not from 0 to 1"))
            }
            _ => Ok(flags),
        }
    }
}

/// The state of the flags, as the admin endpoint reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct State {
    /// Whether telemetry is recorded.
    pub enabled: bool,
    /// The root sampling ratio of the ratio-based samplers.
    pub sampling_ratio: f64,
    /// The sampler in use, as `OTEL_TRACES_SAMPLER` names it.
    pub sampler: &'static str,
}

/// The flags as they are now.
pub fn state() -> State {
    State {
        enabled: switch::enabled(),
        sampling_ratio: switch::sampling_ratio(),
        sampler: sampling::sampler_name(),
    }
}

/// Who changes the flags.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A `PUT` on the admin listener from `remote`.
    Admin {
        /// The address of the caller.
        remote: SocketAddr,
    },
    /// The flags file at `path`.
    File {
        /// The file.
        path: &'a Path,
    },
    /// Any other source, such as an `OpenFeature` provider.
    Other {
        /// What changed the flags, as the log line's `source` names it.
        name: &'a str,
    },
}

/// Applies `flags` from `source` and logs the change; returns the new state.
pub fn apply(flags: Flags, source: Source<'_>) -> State {
    if let Some(enabled) = flags.enabled {
        switch::set_enabled(enabled);
    }
    if let Some(ratio) = flags.sampling_ratio {
        switch::set_sampling_ratio(ratio);
    }
    let state = state();
    match source {
        Source::Admin { remote } => tracing::warn!(
            source = "admin",
            %remote,
            enabled = state.enabled,
            sampling_ratio = state.sampling_ratio,
            "telemetry flags changed"
        ),
        Source::File { path } => tracing::warn!(
            source = "file",
            file = %path.display(),
            enabled = state.enabled,
            sampling_ratio = state.sampling_ratio,
            "telemetry flags changed"
        ),
        Source::Other { name } => tracing::warn!(
            source = name,
            enabled = state.enabled,
            sampling_ratio = state.sampling_ratio,
            "telemetry flags changed"
        ),
    }
    state
}

/// Reads the flags file at `path` every `interval` on the current Tokio runtime and applies
/// each new content. A file that cannot be read or parsed changes nothing and logs one warning,
/// and another only once the problem changes.
pub fn watch_file(path: PathBuf, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut applied: Option<Flags> = None;
        let mut problem: Option<String> = None;
        loop {
            ticker.tick().await;
            let read = tokio::fs::read(&path)
                .await
                .map_err(|err| err.to_string())
                .and_then(|json| Flags::from_json(&json));
            match read {
                Ok(flags) => {
                    problem = None;
                    if applied != Some(flags) {
                        apply(flags, Source::File { path: &path });
                        applied = Some(flags);
                    }
                }
                Err(now) if problem.as_ref() != Some(&now) => {
                    tracing::warn!(
                        file = %path.display(),
                        "cannot use the telemetry flags file, flags unchanged: {now}"
                    );
                    problem = Some(now);
                }
                Err(_) => {}
            }
        }
    })
}
