//! docs/syscalls.md, generated from the syscall table and the prose in `doc_template.md`.
//! The `syscall_doc` test fails while the committed page differs; run
//! `UPDATE_DOCS=1 cargo test -p sentry --lib syscall_doc` to regenerate it.

use std::fmt::Write;

use super::table::{self, Status};
use crate::kernel::RestartRule;

/// The prose around the generated parts: `{summary}` and `{table}` are replaced.
const TEMPLATE: &str = include_str!("doc_template.md");

/// The page, as docs/syscalls.md holds it.
pub(crate) fn markdown() -> String {
    TEMPLATE
        .replace("{summary}", &summary())
        .replace("{table}", &calls())
}

/// The status column of a call.
fn status(s: Status) -> String {
    match s {
        Status::Implemented => "implemented".into(),
        Status::Partial => "partial".into(),
        Status::NoOp => "no-op".into(),
        Status::Refused(e) => format!("refused ({})", errno_name(e)),
        Status::Missing { errno, .. } => format!("not implemented ({})", errno_name(errno)),
    }
}

/// The summary's bucket of a status (refusals and gaps counted together, whatever errno).
fn kind(s: Status) -> &'static str {
    match s {
        Status::Implemented => "implemented",
        Status::Partial => "partial",
        Status::NoOp => "no-op",
        Status::Refused(_) => "refused",
        Status::Missing { .. } => "not implemented",
    }
}

fn restart(r: RestartRule) -> &'static str {
    match r {
        RestartRule::SaRestart => "",
        RestartRule::Never => "EINTR",
        RestartRule::TimeLeft => "EINTR, time left",
    }
}

/// The symbolic name of an errno the table uses.
fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOSYS => "ENOSYS",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        _ => return format!("errno {e}"),
    };
    name.into()
}

fn summary() -> String {
    let kinds = [
        "implemented",
        "partial",
        "no-op",
        "refused",
        "not implemented",
    ];
    let mut out = String::from("| status | calls |\n| --- | ---: |\n");
    let mut total = 0;
    for k in kinds {
        let n = table::all().filter(|s| kind(s.status) == k).count();
        total += n;
        let _ = writeln!(out, "| {k} | {n} |");
    }
    let _ = write!(out, "| **all** | **{total}** |");
    out
}

fn calls() -> String {
    let mut out =
        String::from("| nr | call | status | restart | note |\n| ---: | --- | --- | --- | --- |\n");
    for s in table::all() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            s.nr,
            s.name,
            status(s.status),
            restart(s.restart),
            s.note
        );
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/syscalls.md is what the table generates. To regenerate it:
    /// `UPDATE_DOCS=1 cargo test -p sentry --lib syscall_doc`.
    #[test]
    fn syscall_doc_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/syscalls.md");
        let want = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).expect("write docs/syscalls.md");
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        if have != want {
            let line = have
                .lines()
                .zip(want.lines())
                .position(|(h, w)| h != w)
                .unwrap_or_else(|| have.lines().count().min(want.lines().count()))
                + 1;
            panic!(
                "docs/syscalls.md is stale from line {line}: it is generated from \
                 sentry/src/syscalls/table.rs and doc_template.md. Regenerate it with\n    \
                 UPDATE_DOCS=1 cargo test -p sentry --lib syscall_doc\nand commit the result."
            );
        }
    }

    #[test]
    fn syscall_doc_lists_every_call_once_with_a_named_errno() {
        let doc = markdown();
        for s in table::all() {
            let row = format!("| {} | {} | ", s.nr, s.name);
            assert_eq!(doc.matches(&row).count(), 1, "{}", s.name);
        }
        assert!(
            !doc.contains("(errno "),
            "an errno without a name in errno_name"
        );
        assert!(!doc.contains("{summary}") && !doc.contains("{table}"));
    }
}
