use std::process::Command;

#[test]
fn version_prints_two_lines() {
    let out = Command::new(tests::runsc_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines[0].starts_with("runsc version "), "{s}");
    assert_eq!(lines[1], "spec: 1.0.2");
}
