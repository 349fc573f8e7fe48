//! Changing the telemetry flags at run time.
//!
//! Two flags change without a restart: whether telemetry is recorded (`enabled`) and the root
//! sampling ratio (`sampling_ratio`). Every source feeds the same [`apply`], which sets them
//! and logs one `WARN` line, `telemetry settings changed`, saying who changed what (only the
//! settings that changed; a change that changes nothing logs nothing):
//!
//! - the [admin listener](super::admin), with a `PUT` of a JSON body;
//! - a JSON file named by `TELEMETRY_FLAGS_FILE`, re-read every
//!   [`FLAGS_POLL_INTERVAL`](super::defaults::FLAGS_POLL_INTERVAL): mounted from a
//!   `ConfigMap`, one edit reaches every replica without a redeploy;
//! - any other source, an `OpenFeature` provider say, that calls [`apply`] with
//!   [`Source::Other`].
//!
//! Both take the same document; either field may be left out, not both:
//!
//! ```json
//! {"enabled": false, "sampling_ratio": 0.05}
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{sampling, switch};

/// Serialises [`apply`].
static CHANGES: Mutex<()> = Mutex::new(());

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
    /// no field at all, or a ratio outside `0.0..=1.0`.
    ///
    /// ```
    /// use ledger::telemetry::flags::Flags;
    ///
    /// let flags = Flags::from_json(br#"{"enabled": false}"#).unwrap();
    /// assert_eq!(flags.enabled, Some(false));
    /// assert!(Flags::from_json(br#"{"sampling_ratio": 2}"#).is_err());
    /// assert!(Flags::from_json(b"{}").is_err());
    /// ```
    pub fn from_json(json: &[u8]) -> Result<Self, String> {
        let flags: Flags = serde_json::from_slice(json).map_err(|err| err.to_string())?;
        match flags {
            Flags {
                enabled: None,
                sampling_ratio: None,
            } => Err("set enabled, sampling_ratio or both".to_owned()),
            Flags {
                sampling_ratio: Some(ratio),
                ..
            } if !(0.0..=1.0).contains(&ratio) => {
                Err(format!("sampling_ratio {ratio} is not from 0 to 1"))
            }
            _ => Ok(flags),
        }
    }

    /// The fields of `self` that differ from `before`: what a source changed between two reads.
    fn changed_since(self, before: Option<Flags>) -> Flags {
        let before = before.unwrap_or_default();
        Flags {
            enabled: self.enabled.filter(|_| self.enabled != before.enabled),
            sampling_ratio: self
                .sampling_ratio
                .filter(|_| self.sampling_ratio != before.sampling_ratio),
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
#[must_use]
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

/// Applies `flags` from `source`; returns the new state.
///
/// The settings that change are logged in one `WARN` line with the source and who made the
/// change; a request that changes nothing logs nothing.
pub fn apply(flags: Flags, source: Source<'_>) -> State {
    // One change at a time, so that each line reports what its own change did.
    let _serial = CHANGES.lock().unwrap_or_else(PoisonError::into_inner);
    let before = state();
    if let Some(enabled) = flags.enabled {
        switch::set_enabled(enabled);
    }
    if let Some(ratio) = flags.sampling_ratio {
        switch::set_sampling_ratio(ratio);
    }
    let after = state();
    let enabled = (after.enabled != before.enabled).then_some(after.enabled);
    let sampling_ratio = (after.sampling_ratio.to_bits() != before.sampling_ratio.to_bits())
        .then_some(after.sampling_ratio);
    if enabled.is_none() && sampling_ratio.is_none() {
        return after;
    }
    match source {
        Source::Admin { remote } => tracing::warn!(
            source = "admin",
            %remote,
            enabled,
            sampling_ratio,
            "telemetry settings changed"
        ),
        Source::File { path } => tracing::warn!(
            source = "file",
            path = %path.display(),
            enabled,
            sampling_ratio,
            "telemetry settings changed"
        ),
        Source::Other { name } => tracing::warn!(
            source = name,
            enabled,
            sampling_ratio,
            "telemetry settings changed"
        ),
    }
    after
}

/// Reads the flags file at `path` every `interval` on the current Tokio runtime and applies a
/// setting when the file changes it, so that a change made through the admin listener stands
/// until the file changes that setting. A file that cannot be read or parsed changes nothing
/// and logs one warning, and another only once the problem changes.
#[must_use]
pub fn watch_file(path: PathBuf, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_read: Option<Flags> = None;
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
                    let changed = flags.changed_since(last_read);
                    if changed != Flags::default() {
                        apply(changed, Source::File { path: &path });
                    }
                    last_read = Some(flags);
                }
                Err(now) if problem.as_ref() != Some(&now) => {
                    tracing::warn!(
                        path = %path.display(),
                        "cannot use the telemetry flags file, flags unchanged: {now}"
                    );
                    problem = Some(now);
                }
                Err(_) => {}
            }
        }
    })
}
