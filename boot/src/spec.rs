//! The parts of an OCI runtime-spec 1.0.2 `config.json` that runsc honours, as plain serde
//! structs. Unknown fields are ignored; a field the spec marks REQUIRED is required here
//! too, so a missing one is an error naming it (`process.cwd: missing field`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub oci_version: String,
    /// REQUIRED on Linux.
    pub root: Root,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Root {
    /// The root file system; relative paths are relative to the bundle.
    pub path: String,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    pub destination: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    pub user: User,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<PosixRlimit>,
    #[serde(default)]
    pub no_new_privileges: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSize {
    pub height: u16,
    pub width: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bounding: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effective: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inheritable: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permitted: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ambient: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PosixRlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prestart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_runtime: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_container: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Seconds; the hook is killed when it runs longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<PidsResources>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryResources {
    /// Bytes; -1 or absent means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// Microseconds per period; -1 or absent means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsResources {
    /// 0 or -1 means no limit.
    pub limit: i64,
}

/// Where a document is wrong (the JSON path); what is wrong is the source.
#[derive(Debug, thiserror::Error)]
#[error("{path}")]
pub struct ParseError {
    /// Where in the document: `process.user.uid`, or `.` for the top level.
    pub path: String,
    #[source]
    pub source: serde_json::Error,
}

/// Parses a JSON document into `T`, naming the JSON path of the first problem.
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| ParseError {
        path: e.path().to_string(),
        source: e.into_inner(),
    })
}

impl Spec {
    /// Parses a `config.json`.
    pub fn from_slice(bytes: &[u8]) -> Result<Spec, ParseError> {
        parse(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERISH: &str = r#"{
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]},
            "args": ["sh", "-c", "sleep 100"],
            "env": ["PATH=/bin", "HOSTNAME=x"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}],
            "noNewPrivileges": true,
            "apparmorProfile": "docker-default",
            "oomScoreAdj": 0
        },
        "root": {"path": "rootfs"},
        "hostname": "x",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
            {"destination": "/etc/hosts", "type": "bind", "source": "/h", "options": ["rbind", "ro"]}
        ],
        "hooks": {"prestart": [{"path": "/usr/bin/true", "args": ["true"], "timeout": 5}]},
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x"}],
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
            "sysctl": {"net.ipv4.ip_forward": "1"},
            "resources": {"memory": {"limit": 1048576}, "pids": {"limit": 10},
                          "cpu": {"quota": 50000, "period": 100000}, "devices": [{"allow": false}]},
            "cgroupsPath": "/docker/x",
            "seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}
        },
        "annotations": {"a": "b"}
    }"#;

    #[test]
    fn parses_what_docker_sends_and_ignores_unknown_fields() {
        let s = Spec::from_slice(DOCKERISH.as_bytes()).unwrap();
        let p = s.process.as_ref().unwrap();
        assert_eq!(p.user.additional_gids, [10, 20]);
        assert_eq!(p.rlimits[0].kind, "RLIMIT_NOFILE");
        assert!(p.no_new_privileges);
        assert_eq!(s.mounts[1].options, ["rbind", "ro"]);
        assert_eq!(s.hooks.as_ref().unwrap().prestart[0].timeout, Some(5));
        let l = s.linux.as_ref().unwrap();
        assert_eq!(l.namespaces[1].path.as_deref(), Some("/var/run/netns/x"));
        assert_eq!(
            l.resources.as_ref().unwrap().pids,
            Some(PidsResources { limit: 10 })
        );
        assert_eq!(l.cgroups_path.as_deref(), Some("/docker/x"));
        assert_eq!(s.annotations["a"], "b");
    }

    /// The error as runsc prints it: the path, then the cause.
    fn chain(e: &ParseError) -> String {
        format!("{e}: {}", e.source)
    }

    #[test]
    fn a_missing_required_field_is_named_with_its_path() {
        let bad = DOCKERISH.replace("\"cwd\": \"/\",", "");
        let e = Spec::from_slice(bad.as_bytes()).unwrap_err();
        assert_eq!(e.path, "process");
        assert!(chain(&e).contains("missing field `cwd`"), "{e}");
        let bad = DOCKERISH.replace("\"uid\": 1000,", "");
        let e = Spec::from_slice(bad.as_bytes()).unwrap_err();
        assert!(
            chain(&e).starts_with("process.user: missing field `uid`"),
            "{e}"
        );
        let bad = DOCKERISH.replace("\"root\": {\"path\": \"rootfs\"},", "");
        let e = Spec::from_slice(bad.as_bytes()).unwrap_err();
        assert!(chain(&e).contains("missing field `root`"), "{e}");
    }

    #[test]
    fn malformed_json_and_wrong_types_are_errors() {
        let e = Spec::from_slice(b"{\"ociVersion\": ").unwrap_err();
        assert!(chain(&e).contains("EOF"), "{e}");
        let bad = DOCKERISH.replace("\"uid\": 1000", "\"uid\": \"root\"");
        let e = Spec::from_slice(bad.as_bytes()).unwrap_err();
        assert!(
            chain(&e).starts_with("process.user.uid: invalid type"),
            "{e}"
        );
    }
}
