//! A busybox-static shell script inside the sandbox.

mod common;
use common::{expect, run_do};

const SCRIPT: &str = r#"
set -e
greeting="hello"
n=0
for i in 1 2 3 4 5; do n=$((n + i)); done
echo "$greeting sum=$n"
words=$(echo "a b c" | tr ' ' '\n' | wc -l)
echo "words=$words"
printf 'one\ntwo\nthree\n' | grep t | sort -r > /tmp/out
echo four >> /tmp/out
cat /tmp/out
i=0
while [ $i -lt 3 ]; do i=$((i + 1)); done
echo "while=$i"
(sleep 0.2; echo bg1 > /tmp/bg1) &
(sleep 0.1; echo bg2 > /tmp/bg2) &
wait
cat /tmp/bg1 /tmp/bg2
sh -c 'exit 7' || echo "child exit=$?"
if false; then echo no; else echo else-branch; fi
case "$greeting" in hel*) echo case-ok;; esac
echo $(( $(echo 6) * 7 ))
exit 4
"#;

#[test]
fn busybox_shell_script() {
    let o = run_do(None, &["/bin/busybox", "sh", "-c", SCRIPT]);
    expect(
        &o,
        4,
        "hello sum=15\nwords=3\ntwo\nthree\nfour\nwhile=3\nbg1\nbg2\nchild exit=7\nelse-branch\ncase-ok\n42\n",
    );
}

#[test]
fn three_stage_pipeline_of_much_data() {
    // 200,000 lines pass through pipes in both directions.
    let o = run_do(
        None,
        &["/bin/busybox", "sh", "-c", "seq 1 200000 | grep 7 | wc -l"],
    );
    expect(&o, 0, "81902\n");
}

#[test]
fn stdin_pipe_reaches_end_of_file() {
    use std::io::Write;
    let mut child = std::process::Command::new(tests::runsc_bin())
        .args(["do", "--", "/bin/busybox", "sh", "-c", "wc -l; echo eof"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\nthree\n").unwrap();
    drop(stdin);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the guest never saw end-of-file on stdin");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3\neof\n");
}
