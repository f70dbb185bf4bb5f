#!/usr/bin/env python3
"""Overlap building and running: while build.sh (started separately, its pid given)
compiles, link each test as soon as its objects exist (build.sh LINK_ONLY=1) and run
it (run_tests.py with the given flags). Saves the ~30 minutes of a first build.

Usage: pipeline.py BUILD_PID [run_tests.py flags...]
Log: $GVT/pipeline.txt. Tests whose sources failed to compile are skipped.
Example (what run.sh does step by step, with the first two steps overlapped):
  bash build.sh > $GVT/build.out 2>&1 & python3 pipeline.py $! --modes host,gvisor,ours
"""
import os, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the repo
sys.path.insert(0, HERE)
import gen_list  # noqa: E402

GVT = os.environ.get('GVT', '/var/tmp/gvt')
B = os.path.join(GVT, 'build')
NEEDS = {'exec_test': ['exec_basic_workload', 'exec_assert_closed_workload',
                       'exec_proc_exe_workload', 'exec_state_workload',
                       'priority_execve', 'exec_check_creds'],
         'sigaltstack_test': ['sigaltstack_check']}


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def main():
    build_pid = int(sys.argv[1])
    extra = sys.argv[2:]
    rows = [l.split() for l in open(os.path.join(GVT, 'tests.list'))
            if l.strip() and not l.startswith('#')]
    srcs = {r[0]: r[1:] for r in rows}

    def objs_ready(t):
        return os.path.exists(os.path.join(B, 'libgvtutil.a')) and all(
            os.path.exists(os.path.join(B, 'obj', s[:-3] + '.o')) for s in srcs[t])

    def failed(t):
        p = os.path.join(GVT, 'build.out')
        out = open(p).read() if os.path.exists(p) else ''
        return any(f'COMPILE-FAIL {s}' in out for s in srcs[t])

    pending = [t for t in gen_list.ISSUE10 + gen_list.SOCKETS if t in srcs]
    pending.sort(key=lambda t: max(max(srcs[n]) for n in [t] + NEEDS.get(t, [])))
    linked = set()
    log = open(os.path.join(GVT, 'pipeline.txt'), 'a')
    while pending:
        progressed = False
        for t in list(pending):
            deps = NEEDS.get(t, [])
            if any(failed(x) for x in [t] + deps):
                log.write(f'SKIP {t}: compile failed\n')
                log.flush()
                pending.remove(t)
                progressed = True
                continue
            if not all(objs_ready(x) for x in [t] + deps):
                continue
            todo = [x for x in deps + [t] if x not in linked]
            r = subprocess.run(['bash', os.path.join(HERE, 'build.sh')] + todo,
                               env=dict(os.environ, LINK_ONLY='1'),
                               capture_output=True, text=True)
            log.write(r.stdout)
            log.flush()
            for x in todo:
                if f'OK {x}' in r.stdout:
                    linked.add(x)
            pending.remove(t)
            progressed = True
            if t in linked:
                subprocess.run([sys.executable, os.path.join(HERE, 'run_tests.py')] + extra + [t],
                               stdout=log, stderr=log)
                log.flush()
        if not progressed:
            if not alive(build_pid):
                if not any(objs_ready(t) for t in pending):
                    for t in pending:
                        log.write(f'SKIP {t}: objects missing after the build\n')
                    break
            time.sleep(15)
    log.write('PIPELINE DONE\n')
    log.close()


if __name__ == '__main__':
    main()
