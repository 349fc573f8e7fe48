//! What the resource detects about the process: its instance, host, container, operating
//! system and executable.

use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::ResourceDetector;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

/// Detects `service.instance.id` (a version 4 UUID, the same for the whole process),
/// `host.name`, `container.id` (in a container), `os.type`, `process.pid` and
/// `process.executable.name`, the attributes the Go SDK's detectors find.
///
/// The command line is left out on purpose (`process.command_args`): it can carry
/// credentials.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProcessDetector;

impl ResourceDetector for ProcessDetector {
    fn detect(&self) -> Resource {
        let mut attributes = vec![
            KeyValue::new("service.instance.id", instance_id()),
            KeyValue::new("os.type", std::env::consts::OS),
            KeyValue::new("process.pid", i64::from(std::process::id())),
        ];
        if let Some(host) = host_name() {
            attributes.push(KeyValue::new("host.name", host));
        }
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        if let Some(container) = container_id(&cgroups) {
            attributes.push(KeyValue::new("container.id", container.to_owned()));
        }
        let executable = std::env::current_exe().ok().and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        });
        if let Some(executable) = executable {
            attributes.push(KeyValue::new("process.executable.name", executable));
        }
        Resource::builder_empty()
            .with_attributes(attributes)
            .build()
    }
}

/// The instance id of this process: 128 random bits from the SDK's trace id generator,
/// written as a version 4 UUID.
fn instance_id() -> &'static str {
    static INSTANCE_ID: OnceLock<String> = OnceLock::new();
    INSTANCE_ID.get_or_init(|| {
        let mut bytes = RandomIdGenerator::default().new_trace_id().to_bytes();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex = format!("{:032x}", u128::from_be_bytes(bytes));
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    })
}

/// The host's name, as the kernel knows it.
fn host_name() -> Option<String> {
    #[cfg(target_os = "linux")]
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    #[cfg(not(target_os = "linux"))]
    let name = std::process::Command::new("hostname")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok());
    name.map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

/// The id of the container the process runs in, read from the contents of
/// `/proc/self/cgroup` as the Go SDK reads it: the first line whose last path element ends in
/// a run of lowercase hex digits (after a `-` or `:`, before a `.`), such as
/// `docker-<id>.scope` or `/docker/<id>`.
fn container_id(cgroups: &str) -> Option<&str> {
    cgroups.lines().find_map(|line| {
        let (_, element) = line.trim_end().rsplit_once('/')?;
        let after = element
            .rfind(['-', ':'])
            .map_or(element, |at| &element[at + 1..]);
        let id = after.split_once('.').map_or(after, |(id, _)| id);
        let hex = |byte: u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
        (!id.is_empty() && id.bytes().all(hex)).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_id_is_a_uuid_the_whole_process_shares() {
        let id = instance_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4', "{id}");
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(instance_id(), id);
    }

    #[test]
    fn the_container_id_is_the_hex_id_of_the_first_container_cgroup() {
        let id = "4bf92f3577b34da6a3ce929d0e0e47364bf92f3577b34da6a3ce929d0e0e4736";
        let docker = format!("12:cpu:/\n11:memory:/docker/{id}\n0::/\n");
        assert_eq!(container_id(&docker), Some(id));
        let systemd = format!("0::/system.slice/docker-{id}.scope\n");
        assert_eq!(container_id(&systemd), Some(id));
        let crio = format!("0::/kubepods/burstable/pod1/crio-{id}\n");
        assert_eq!(container_id(&crio), Some(id));
        assert_eq!(container_id("0::/\n1:name=systemd:/init.scope\n"), None);
        assert_eq!(container_id(""), None);
    }

    #[test]
    fn the_command_line_is_left_out() {
        let resource = ProcessDetector.detect();
        let keys: Vec<String> = resource.iter().map(|(key, _)| key.to_string()).collect();
        assert!(keys.contains(&"process.pid".to_owned()), "{keys:?}");
        assert!(
            !keys.iter().any(|key| key.starts_with("process.command")),
            "{keys:?}"
        );
    }
}
