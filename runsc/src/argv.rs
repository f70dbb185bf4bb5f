//! Go-style argv, normalised before clap sees it. Docker, containerd and Podman drive
//! runtimes written with Go's flag package, which accepts `-flag` as well as `--flag`,
//! `--bool=true|false`, and the same boolean twice (the shim sends `-no-subreaper`, Podman
//! sends `--leave-running` twice). The rewrite is driven by clap's own description of the
//! commands, so it knows which flags are booleans and which take a value.

use std::collections::HashSet;
use std::ffi::OsString;

use clap::{Arg, Command};

/// Optional-value flags (like `--rootless[=true|false]`) also take these words as a
/// separate argument, as Go's parser does.
const OPTIONAL_VALUE_WORDS: &[&str] = &["true", "false", "auto"];

fn find_long<'a>(cmd: &'a Command, root: &'a Command, name: &str) -> Option<&'a Arg> {
    let matches = |a: &&Arg| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    };
    cmd.get_arguments().find(matches).or_else(|| {
        root.get_arguments()
            .filter(|a| a.is_global_set())
            .find(matches)
    })
}

fn is_bool(arg: &Arg) -> bool {
    !arg.get_action().takes_values()
}

fn takes_optional_value(arg: &Arg) -> bool {
    arg.get_num_args()
        .is_some_and(|r| r.min_values() == 0 && r.takes_values())
        && arg.get_action().takes_values()
}

/// How many positional arguments come before the command's trailing ones (the guest
/// command of `exec` and `do`), or `None` when it has no trailing arguments.
fn trailing_after(cmd: &Command) -> Option<usize> {
    let positionals: Vec<&Arg> = cmd.get_positionals().collect();
    positionals
        .iter()
        .position(|a| a.is_trailing_var_arg_set() || a.is_last_set())
}

/// Rewrites `args` (with `args[0]` the program) into the form clap expects.
pub fn normalise(root: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    if let Some(prog) = it.next() {
        out.push(prog);
    }
    let mut cmd = root;
    let mut in_subcommand = false;
    let mut seen_bools: HashSet<String> = HashSet::new();
    let mut positionals = 0usize;
    let mut trailing = false;
    while let Some(raw) = it.next() {
        let Some(arg) = raw.to_str().map(str::to_owned) else {
            out.push(raw);
            continue;
        };
        if trailing {
            out.push(raw);
            continue;
        }
        if arg == "--" {
            out.push(raw);
            trailing = true;
            continue;
        }
        if !arg.starts_with('-') || arg == "-" {
            if !in_subcommand {
                if let Some(sub) = cmd.find_subcommand(&arg) {
                    cmd = sub;
                    in_subcommand = true;
                    seen_bools.clear();
                }
            } else {
                positionals += 1;
                if trailing_after(cmd).is_some_and(|n| positionals > n) {
                    trailing = true;
                }
            }
            out.push(raw);
            continue;
        }
        let body = arg.trim_start_matches('-');
        let dashes = arg.len() - body.len();
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        // A single dash with one letter is a short flag; a single dash with a word is a Go
        // long flag only when such a long flag exists.
        let long = if dashes == 1 && name.chars().count() == 1 {
            None
        } else if dashes <= 2 {
            find_long(cmd, root, name)
        } else {
            None
        };
        let Some(flag) = long else {
            out.push(raw);
            continue;
        };
        let canonical = flag.get_long().unwrap_or(name).to_string();
        if is_bool(flag) {
            let on = match value {
                None => true,
                Some("true" | "1" | "t" | "T" | "TRUE" | "True") => true,
                Some("false" | "0" | "f" | "F" | "FALSE" | "False") => false,
                Some(_) => {
                    out.push(raw);
                    continue;
                }
            };
            if on && seen_bools.insert(canonical.clone()) {
                out.push(format!("--{canonical}").into());
            }
            continue;
        }
        match value {
            Some(v) => out.push(format!("--{canonical}={v}").into()),
            None if takes_optional_value(flag) => {
                let next_is_word = it
                    .as_slice()
                    .first()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| OPTIONAL_VALUE_WORDS.contains(&n));
                if next_is_word {
                    let v = it.next().unwrap_or_default();
                    out.push(format!("--{canonical}={}", v.to_string_lossy()).into());
                } else {
                    out.push(format!("--{canonical}").into());
                }
            }
            None => {
                out.push(format!("--{canonical}").into());
                if let Some(v) = it.next() {
                    out.push(v);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn norm(args: &[&str]) -> Vec<String> {
        let mut v = vec!["runsc".to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        normalise(
            &crate::cli::Cli::command(),
            v.into_iter().map(Into::into).collect(),
        )
        .into_iter()
        .skip(1)
        .map(|s| s.into_string().unwrap())
        .collect()
    }

    #[test]
    fn single_dash_long_flags() {
        assert_eq!(
            norm(&["-root", "/r", "-log-format=json", "state", "x"]),
            ["--root", "/r", "--log-format=json", "state", "x"]
        );
        assert_eq!(
            norm(&["--debug", "list", "-f", "json"]),
            ["--debug", "list", "-f", "json"]
        );
        assert_eq!(
            norm(&["list", "-format", "json"]),
            ["list", "--format", "json"]
        );
    }

    #[test]
    fn booleans_with_values_and_repeats() {
        assert_eq!(
            norm(&["list", "--quiet=true", "-quiet", "--quiet"]),
            ["list", "--quiet"]
        );
        assert_eq!(norm(&["list", "--quiet=false"]), ["list"]);
        assert_eq!(norm(&["--debug=false", "list"]), ["list"]);
    }

    #[test]
    fn optional_value_flags() {
        assert_eq!(
            norm(&["--rootless", "false", "list"]),
            ["--rootless=false", "list"]
        );
        assert_eq!(norm(&["--rootless", "list"]), ["--rootless", "list"]);
        assert_eq!(
            norm(&["-rootless=true", "list"]),
            ["--rootless=true", "list"]
        );
    }

    #[test]
    fn values_and_trailing_arguments_are_left_alone() {
        // A value that looks like a flag is still the value.
        assert_eq!(
            norm(&["--log", "-debug", "list"]),
            ["--log", "-debug", "list"]
        );
        // The guest command after `do` keeps its dashes.
        assert_eq!(
            norm(&["do", "-root-dir", "/", "sh", "-c", "-debug"]),
            ["do", "--root-dir", "/", "sh", "-c", "-debug"]
        );
        assert_eq!(norm(&["do", "--", "-debug"]), ["do", "--", "-debug"]);
        // Unknown single-dash words pass through for clap to reject.
        assert_eq!(norm(&["list", "-bogus"]), ["list", "-bogus"]);
    }

    #[test]
    fn normalised_argv_parses() {
        use clap::FromArgMatches;
        let args = normalise(
            &crate::cli::Cli::command(),
            [
                "runsc",
                "-debug",
                "-root",
                "/x",
                "--rootless",
                "true",
                "list",
                "-quiet",
                "-quiet",
            ]
            .into_iter()
            .map(Into::into)
            .collect(),
        );
        let m = crate::cli::Cli::command()
            .try_get_matches_from(args)
            .unwrap();
        let cli = crate::cli::Cli::from_arg_matches(&m).unwrap();
        assert!(cli.global.debug);
        assert_eq!(cli.global.root, std::path::Path::new("/x"));
        assert_eq!(cli.global.rootless.as_deref(), Some("true"));
    }
}
