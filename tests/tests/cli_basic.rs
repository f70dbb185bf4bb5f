//! Commands that need no running sandbox: spec, features, list, state of a missing
//! container, errors in text and JSON logs, Go-style flags.

use tests::{Json, Runtime, TempDir};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn spec_writes_a_default_config_and_refuses_to_overwrite() {
    let rt = Runtime::new();
    let dir = TempDir::new("spec");
    let b = dir.path().to_str().unwrap();
    let o = rt.run(&["spec", "--bundle", b]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let v = Json::parse(&text).unwrap();
    assert_eq!(v.get("ociVersion").as_str(), Some("1.0.2"));
    assert_eq!(v.get("root").get("path").as_str(), Some("rootfs"));
    assert_eq!(
        v.get("process").get("args"),
        &Json::Arr(vec![Json::Str("sh".into())])
    );
    let o = rt.run(&["spec", "--bundle", b]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));
}

#[test]
fn spec_with_arguments() {
    let rt = Runtime::new();
    let dir = TempDir::new("spec-args");
    let b = dir.path().to_str().unwrap();
    let o = rt.run(&["spec", "-bundle", b, "--", "sleep", "-x"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = Json::parse(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    let args = v.get("process").get("args");
    assert_eq!(
        args,
        &Json::Arr(vec![Json::Str("sleep".into()), Json::Str("-x".into())])
    );
    assert_eq!(v.get("process").get("terminal"), &Json::Bool(false));
}

#[test]
fn features_is_json() {
    let o = Runtime::new().run(&["features"]);
    assert!(o.status.success());
    let v = Json::parse(&stdout(&o)).unwrap();
    assert_eq!(v.get("ociVersionMax").as_str(), Some("1.0.2"));
    let ns = v.get("linux").get("namespaces").as_array().unwrap();
    assert!(ns.contains(&Json::Str("network".into())));
    assert!(v
        .get("hooks")
        .as_array()
        .unwrap()
        .contains(&Json::Str("prestart".into())));
}

#[test]
fn list_of_nothing() {
    let rt = Runtime::new();
    let o = rt.run(&["list", "--format=json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(Json::parse(&stdout(&o)).unwrap(), Json::Arr(vec![]));
    assert!(stderr(&o).is_empty());
    let o = rt.run(&["list"]);
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("ID"), "{}", stdout(&o));
    let o = rt.run(&["-format", "json", "list"]);
    assert!(!o.status.success(), "--format is not a global flag");
}

#[test]
fn state_of_a_missing_container_says_does_not_exist() {
    let rt = Runtime::new();
    let o = rt.run(&["state", "nosuch"]);
    assert!(!o.status.success());
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("container \"nosuch\" does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn errors_go_to_the_json_log() {
    let rt = Runtime::new();
    let log = rt.dir.path().join("log.json");
    let l = log.to_str().unwrap();
    for args in [
        vec!["--log", l, "--log-format", "json", "state", "nosuch"],
        vec!["-log", l, "-log-format=json", "kill", "nosuch", "KILL"],
        vec!["--log", l, "--log-format=json", "delete", "nosuch"],
    ] {
        let o = rt.run(&args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).is_empty(), "{args:?}: stderr {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: stdout {}", stdout(&o));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in lines {
        let v = Json::parse(line).unwrap();
        assert_eq!(v.get("level").as_str(), Some("error"));
        assert!(
            v.get("msg").as_str().unwrap().contains("does not exist"),
            "{line}"
        );
        let time = v.get("time").as_str().unwrap();
        assert!(time.len() >= 20 && time.as_bytes()[10] == b'T', "{time}");
    }
}

#[test]
fn text_log_format() {
    let rt = Runtime::new();
    let log = rt.dir.path().join("log.txt");
    let o = rt.run(&["--log", log.to_str().unwrap(), "state", "nosuch"]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("level=error"), "{text}");
    assert!(text.contains("does not exist"), "{text}");
}

#[test]
fn podman_style_state_without_path() {
    // Podman runs `state` with only XDG_RUNTIME_DIR in the environment.
    let rt = Runtime::new();
    let o = rt
        .cmd(&["state", "nosuch"])
        .env_clear()
        .env("XDG_RUNTIME_DIR", "")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not exist"));
}

#[test]
fn version_and_help_exit_zero() {
    let rt = Runtime::new();
    let o = rt.run(&["--version"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("spec: 1.0.2"));
}
