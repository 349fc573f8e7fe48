//! Tests of the `OTEL_BSP_*` and `OTEL_BLRP_*` variables. They set process-wide variables, so
//! they run only in the service generated with this module, where no other test reads them.

use std::time::Duration;

use super::Config;
use super::exporters::{check_batch_variables, log_batch_config, span_batch_config};
use super::init::Warnings;

#[test]
fn batch_variables_override_the_policy() {
    let config = Config::default()
        .with_max_queue_size(1234)
        .with_schedule_delay(Duration::from_millis(2345));
    // SAFETY: no other test of this crate reads the OTEL_BSP_* or OTEL_BLRP_* variables.
    unsafe {
        std::env::set_var("OTEL_BSP_MAX_QUEUE_SIZE", "77");
        std::env::set_var("OTEL_BLRP_MAX_QUEUE_SIZE", "88");
        std::env::set_var("OTEL_BLRP_SCHEDULE_DELAY", "soon");
    }
    let spans = format!("{:?}", span_batch_config(&config));
    let logs = format!("{:?}", log_batch_config(&config));
    let mut warnings = Warnings::default();
    check_batch_variables("OTEL_BLRP", &mut warnings);
    // SAFETY: as above.
    unsafe {
        for name in [
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "OTEL_BLRP_MAX_QUEUE_SIZE",
            "OTEL_BLRP_SCHEDULE_DELAY",
        ] {
            std::env::remove_var(name);
        }
    }
    assert!(spans.contains("max_queue_size: 77"), "{spans}");
    assert!(spans.contains("scheduled_delay: 2.345s"), "{spans}");
    assert!(logs.contains("max_queue_size: 88"), "{logs}");
    // A value that is not a number gives way to the policy's, with a warning.
    assert!(logs.contains("scheduled_delay: 2.345s"), "{logs}");
    assert_eq!(warnings.len(), 1);
}
