#!/usr/bin/env python3
"""Run gVisor's syscall test binaries natively (the truth), under gVisor's runsc
(Debian's package, /usr/bin/runsc) and under ours, and record a status for each
gtest case. run.sh is the usual way in; this is its runner.

Usage: run_tests.py [--modes host,gvisor,ours,ours-linux,host-gv] [--timeout 120] [TEST...]
  TESTs default to the chosen list (gen_list.py) that $GVT/build/built.txt has.
Binaries are copied to $BINDIR (default $GVT/runbin) so a concurrent build never
relinks a binary under a running test; helpers go beside them (RunfilePath looks
next to the test binary). Nothing is run from /tmp: our `runsc do` mounts a fresh
tmpfs there.
Results (GVT_RESULTS, default $GVT/results): <test>.<mode>.json  ({case: status}, runs, counts)
         <test>.<mode>.log   (stdout+stderr of every attempt)
         <test>.ours.sentry.log (our runsc's --log)
Status per case: OK FAILED SKIPPED CRASH (started, never finished: the
process died) HANG (started, timeout hit) NOTRUN (never reached).
When a run dies or hangs, it is resumed (up to --resumes times) with a
gtest filter for the cases not yet reached, like gVisor's runner which runs
each case in its own sandbox; --budget bounds the time spent per binary and mode.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
sys.dont_write_bytecode = True  # no __pycache__ in the repo
sys.path.insert(0, HERE)
import gen_list  # noqa: E402

GVT = os.environ.get('GVT', '/var/tmp/gvt')
RESULTS = os.environ.get('GVT_RESULTS', os.path.join(GVT, 'results'))
BINDIR = os.environ.get('BINDIR', os.path.join(GVT, 'runbin'))
# ours is called by path, never by PATH: /usr/bin/runsc is gVisor's
OURS = os.environ.get('OURS', os.path.join(REPO, 'target/release/runsc'))
GVISOR = os.environ.get('GVISOR_RUNSC', '/usr/bin/runsc')
HELPERS = set(gen_list.HELPERS)
SANDBOX_ENV = {
    # what gVisor's test/runner/main.go sets for a ptrace run
    'TEST_ON_GVISOR': 'ptrace', 'GVISOR_NETWORK': 'none',
    'GVISOR_RUNTIME': 'runsc', 'IOURING_ENABLED': 'FALSE',
    'GVISOR_FUSE_TEST': 'FALSE', 'GVISOR_SAVE_TEST': 'FALSE',
    'GVISOR_PLATFORM_SUPPORT':
        '32BIT:FALSE,ALIGNMENT_CHECK:TRUE,MULTIPROCESS:TRUE,INT3:TRUE,VSYSCALL:TRUE',
    'TEST_TMPDIR': '/tmp',
}
# ours-linux: ours without TEST_ON_GVISOR, so each test expects what Linux does
# (gVisor's own workarounds and skips off): the same expectations as the host run
LINUX_SANDBOX_ENV = {k: v for k, v in SANDBOX_ENV.items() if k != 'TEST_ON_GVISOR'}
HOST_ENV = {
    'GVISOR_PLATFORM_SUPPORT':
        '32BIT:TRUE,ALIGNMENT_CHECK:TRUE,MULTIPROCESS:TRUE,INT3:TRUE,VSYSCALL:TRUE',
}

def list_cases(binpath):
    out = subprocess.run([binpath, '--gtest_list_tests'], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, **HOST_ENV)).stdout
    cases, suite = [], None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line.startswith(' '):
            suite = line.split('#')[0].strip()
        else:
            case = suite + line.split('#')[0].strip()
            if 'DISABLED_' not in case:   # gtest never runs these
                cases.append(case)
    return cases

RE_RUN = re.compile(r'^\[ RUN      \] (\S+)')
RE_END = re.compile(r'^\[ *(OK|FAILED|SKIPPED) *\] (\S+?)(?:,.*)? \(\d+ ms\)')

def parse(text):
    started, ended = [], {}
    for line in text.splitlines():
        m = RE_RUN.match(line)
        if m:
            started.append(m.group(1)); continue
        m = RE_END.match(line)
        if m:
            ended[m.group(2)] = m.group(1)
    return started, ended

def cleanup_root(runsc, root, extra):
    """Force-delete any container left in a private --root directory."""
    try:
        out = subprocess.run([runsc] + extra + ['--root', root, 'list', '--quiet'],
                             capture_output=True, text=True, timeout=20).stdout
    except Exception:
        out = ''
    for cid in out.split():
        if cid.upper() == 'ID':
            continue
        subprocess.run([runsc] + extra + ['--root', root, 'kill', cid, 'KILL'],
                       capture_output=True, timeout=20)
        subprocess.run([runsc] + extra + ['--root', root, 'delete', '--force', cid],
                       capture_output=True, timeout=20)
    return out.split()

def run_once(mode, test, args, timeout, logf, attempt):
    binp = os.path.join(BINDIR, test)
    root = os.path.join(GVT, 'roots', f'{mode}-{test}-{attempt}')
    os.makedirs(root, exist_ok=True)
    if mode in ('host', 'host-gv'):
        # private pid/uts/ipc/mount namespaces: the tests kill(-1, SIGWINCH)
        # and sethostname(); sh stays pid 1 so the test is an ordinary process.
        tmp = os.path.join(GVT, 'hosttmp', test); os.makedirs(tmp, exist_ok=True)
        # host-gv: the environment ours gets (TEST_ON_GVISOR and the rest of what
        # gVisor's runner sets), so that both sides run the same test program
        env = dict(os.environ, **(HOST_ENV if mode == 'host' else SANDBOX_ENV))
        env['TEST_TMPDIR'] = tmp
        cmd = ['unshare', '--fork', '--pid', '--mount-proc', '--uts', '--ipc',
               'sh', '-c', '"$@"; exit $?', 'sh', binp] + args
        cwd = tmp
    elif mode == 'gvisor':
        env = dict(os.environ, **SANDBOX_ENV)
        cmd = [GVISOR, '--network=none', '--platform=ptrace', '--root', root,
               'do', binp] + args
        cwd = '/'
    else:
        env = dict(os.environ, **(SANDBOX_ENV if mode == 'ours' else LINUX_SANDBOX_ENV))
        if mode == 'ours-linux':
            env.pop('TEST_ON_GVISOR', None)
        slog = os.path.join(RESULTS, f'{test}.{mode}.sentry.log')
        if attempt == 0 and os.path.exists(slog):
            os.unlink(slog)
        cmd = [OURS, '--root', root, '--log', slog, 'do', '--', binp] + args
        cwd = '/'
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, cwd=cwd, start_new_session=True)
    hung = False
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        hung = True
        try:
            os.killpg(p.pid, signal.SIGKILL)   # the group we created above
        except ProcessLookupError:
            pass
        try:
            out, _ = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill(); out, _ = p.communicate()
    left = []
    if mode == 'gvisor':
        left = cleanup_root(GVISOR, root, ['--network=none', '--platform=ptrace'])
    else:
        left = cleanup_root(OURS, root, [])
    shutil.rmtree(root, ignore_errors=True)
    text = out.decode('utf-8', 'replace')
    dt = time.time() - t0
    logf.write(f'\n===== attempt {attempt}: {" ".join(cmd[:8])} ... rc={p.returncode} '
               f'hung={hung} {dt:.1f}s leftover={left}\n')
    # whole output up to 32 MiB (parametrized socket tests print ~1 KiB per failed case)
    logf.write(text if len(text) <= 32 << 20 else text[:16 << 20] + "\n[... cut ...]\n" + text[-(16 << 20):])
    logf.flush()
    return text, p.returncode, hung, dt

def run_mode(mode, test, cases, timeout, resumes, budget=300):
    t_start = time.time()
    res = {c: 'NOTRUN' for c in cases}
    runs = []
    logp = os.path.join(RESULTS, f'{test}.{mode}.log')
    with open(logp, 'w') as logf:
        args = []
        for attempt in range(resumes + 1):
            text, rc, hung, dt = run_once(mode, test, args, timeout, logf, attempt)
            started, ended = parse(text)
            for c, s in ended.items():
                res[c] = s
            inflight = [c for c in started if c not in ended]
            for c in inflight:
                res[c] = 'HANG' if hung else 'CRASH'
            runs.append({'rc': rc, 'hung': hung, 'secs': round(dt, 1),
                         'started': len(started), 'ended': len(ended),
                         'inflight': inflight[:3]})
            remaining = [c for c in cases if res[c] == 'NOTRUN']
            if not remaining or (not inflight and not hung and not started and attempt > 0):
                break
            if not inflight and not hung and rc == 0:
                break
            if not started and attempt > 0:
                break   # the binary cannot even start: do not loop
            if time.time() - t_start > budget:
                break
            args = ['--gtest_filter=' + ':'.join(remaining)]
    return res, runs

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--modes', default='host,gvisor,ours')
    ap.add_argument('--timeout', type=int, default=120)
    ap.add_argument('--resumes', type=int, default=3)
    ap.add_argument('--claim', type=int, default=0,
                    help='1: skip a test another runner has claimed (results/<t>.claim)')
    ap.add_argument('--budget', type=int, default=300,
                    help='no new resume attempt after this many seconds per binary and mode')
    ap.add_argument('tests', nargs='*')
    a = ap.parse_args()
    # optional overrides read at each start (to shorten a long unattended run)
    ov = os.path.join(GVT, 'run_overrides')
    if os.path.exists(ov):
        for line in open(ov):
            k, _, v = line.partition('=')
            if k.strip() in ('timeout', 'resumes', 'budget', 'claim'):
                setattr(a, k.strip(), int(v))
    os.makedirs(BINDIR, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    if a.tests:
        tests = a.tests
    else:
        built = {l.strip() for l in open(os.path.join(GVT, 'build', 'built.txt'))}
        tests = [t for t in gen_list.ISSUE10 + gen_list.SOCKETS if t in built]
    for h in HELPERS:   # the exec tests exec these from the test's directory
        src = os.path.join(GVT, 'bin', h)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(BINDIR, h))
    es = os.path.join(GVT, 'src/test/syscalls/linux/exit_script.sh')
    if os.path.exists(es):   # RunfilePath("test/syscalls/linux/exit_script")
        shutil.copy2(es, os.path.join(BINDIR, 'exit_script'))
        os.chmod(os.path.join(BINDIR, 'exit_script'), 0o755)
    for t in tests:
        if a.claim:
            try:
                os.close(os.open(os.path.join(RESULTS, t + '.claim'),
                                 os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                print(f'{t:28s} skipped: claimed by another runner', flush=True)
                continue
        if not os.path.exists(os.path.join(GVT, 'bin', t)):
            print(f'{t:28s} skipped: not built ({GVT}/bin/{t} missing)', flush=True)
            continue
        shutil.copy2(os.path.join(GVT, 'bin', t), os.path.join(BINDIR, t))
        cases = list_cases(os.path.join(BINDIR, t))
        for mode in a.modes.split(','):
            t0 = time.time()
            res, runs = run_mode(mode, t, cases, a.timeout, a.resumes, a.budget)
            cnt = {}
            for s in res.values():
                cnt[s] = cnt.get(s, 0) + 1
            json.dump({'test': t, 'mode': mode, 'cases': res, 'runs': runs,
                       'counts': cnt, 'total': len(cases)},
                      open(os.path.join(RESULTS, f'{t}.{mode}.json'), 'w'), indent=1)
            print(f'{t:28s} {mode:6s} total={len(cases):4d} {cnt} '
                  f'attempts={len(runs)} {time.time()-t0:.0f}s', flush=True)

if __name__ == '__main__':
    main()
