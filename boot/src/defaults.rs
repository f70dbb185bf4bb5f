//! Documents runsc prints: the default `config.json` of `runsc spec` and the `features`
//! JSON.

use crate::lookup::DEFAULT_PATH;

/// The capabilities runc's default spec grants.
const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// A default config.json like `runc spec` writes: `sh` on a terminal, or `args` without one.
pub fn spec(args: &[String]) -> serde_json::Value {
    let (args, terminal): (Vec<String>, bool) = if args.is_empty() {
        (vec!["sh".into()], true)
    } else {
        (args.to_vec(), false)
    };
    let caps = serde_json::json!(DEFAULT_CAPS);
    serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [format!("PATH={DEFAULT_PATH}"), "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runsc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// What `runsc features` reports (runc's format): the spec versions, the hooks that run,
/// the mount options and namespaces that are honoured.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw"],
        "linux": {
            "namespaces": crate::bundle::NAMESPACES,
            "capabilities": crate::capabilities::ALL_NAMES,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {
            "dev.runsc.sandbox": "sentry",
            "dev.runsc.checkpoint.enabled": "true"
        }
    })
}

/// A stats event as `runc events` prints it: `{"type":"stats","id":ID,"data":{...}}`.
pub fn stats_event(id: &str, s: &crate::cgroup::Stats) -> serde_json::Value {
    serde_json::json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {"usage": {"total": s.cpu_usage_ns.unwrap_or(0)}},
            "memory": {"usage": {"usage": s.memory_usage.unwrap_or(0), "limit": s.memory_limit.unwrap_or(0)}},
            "pids": {"current": s.pids_current.unwrap_or(0), "limit": s.pids_limit.unwrap_or(0)}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_parses_as_a_spec() {
        let text = spec(&[]).to_string();
        let s = crate::spec::Spec::from_slice(text.as_bytes()).unwrap();
        assert_eq!(s.process.unwrap().args, ["sh"]);
        let text = spec(&["echo".into(), "hi".into()]).to_string();
        let s = crate::spec::Spec::from_slice(text.as_bytes()).unwrap();
        let p = s.process.unwrap();
        assert_eq!(p.args, ["echo", "hi"]);
        assert!(!p.terminal);
    }
}
