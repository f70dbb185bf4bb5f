//! The sentry's modules are layers (docs/architecture.md, "The sentry's modules"): a
//! module's code names only modules below it, so no two modules depend on each other. This
//! test reads the sources and fails on a use of a module at the same level or above, and on
//! a top-level module the list does not place.
//!
//! Test code is above every layer: a file's code from its first `#[cfg(test)]` on, and
//! files named `testing.rs`, are not checked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use the modules before it.
const LAYERS: &[&str] = &[
    "checks", "wait", "creds", "config", "platform", "mm", "loader", "fs", "host", "ipc", "net",
    "kinds", "persist", "control", "kernel", "syscalls",
];

/// Modules outside the layers: test support, wired in at the crate root.
const ABOVE: &[&str] = &["testing"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules lib.rs declares.
fn declared() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_suffix(';')?;
            let name = rest.rsplit_once("mod ")?.1;
            let head = rest.strip_suffix(name)?.trim_end();
            (head.ends_with("mod") && !head.contains("//")).then(|| name.to_string())
        })
        .collect()
}

/// The files of module `m` (m.rs or the m/ directory).
fn files_of(m: &str) -> Vec<PathBuf> {
    let file = src().join(format!("{m}.rs"));
    if file.exists() {
        return vec![file];
    }
    let mut out = Vec::new();
    let mut dirs = vec![src().join(m)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// The `crate::NAME` paths in the non-test code of `text`, with their line numbers.
fn crate_uses(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            // `crate::{a::x, b}` names a and b.
            let names = match after.strip_prefix('{') {
                Some(group) => group
                    .split(',')
                    .map(|p| ident(p.trim_start()))
                    .take_while(|p| !p.is_empty())
                    .collect(),
                None => vec![ident(after)],
            };
            out.extend(
                names
                    .into_iter()
                    .filter(|m| !m.is_empty())
                    .map(|m| (n + 1, m)),
            );
            rest = after;
        }
    }
    out
}

/// The identifier `s` starts with.
fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_module_is_placed_in_a_layer() {
    let placed: BTreeSet<String> = LAYERS.iter().chain(ABOVE).map(|s| s.to_string()).collect();
    let declared = declared();
    assert!(
        declared.contains("kernel"),
        "lib.rs read wrongly: {declared:?}"
    );
    let unplaced: Vec<_> = declared.difference(&placed).collect();
    assert!(
        unplaced.is_empty(),
        "modules not in the layer list of sentry/tests/layers.rs and docs/architecture.md: {unplaced:?}"
    );
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let modules: BTreeSet<&str> = LAYERS.iter().chain(ABOVE).copied().collect();
    let mut wrong = Vec::new();
    for (level, m) in LAYERS.iter().enumerate() {
        for f in files_of(m) {
            if f.file_name().is_some_and(|n| n == "testing.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&f).expect("source");
            for (line, used) in crate_uses(&text) {
                if used == *m || !modules.contains(used.as_str()) {
                    continue; // its own module, or a crate-root item
                }
                let ok = LAYERS[..level].contains(&used.as_str());
                if !ok {
                    wrong.push(format!(
                        "{}:{line}: {m} uses {used}",
                        f.strip_prefix(src()).unwrap_or(&f).display()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "uses against the layers (a module may use only those before it in LAYERS):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_a_use_against_the_layers() {
    let text = "use crate::fs::Vfs;\n// crate::kernel in a comment\nfn f() { crate::kernel::x(); }\nuse crate::{net::Socket, ipc};\n#[cfg(test)]\nmod tests { use crate::syscalls; }\n";
    let uses: Vec<_> = crate_uses(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(uses, ["fs", "kernel", "net", "ipc"]);
}
