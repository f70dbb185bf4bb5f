#!/usr/bin/env python3
"""Summarize $GVT/results/*.json (run_tests.py's output) as markdown.

Usage: summarize.py [--doc docs/conformance.md]
  Prints the tables; with --doc, replaces what lies between the markers
  <!-- conformance:begin --> and <!-- conformance:end --> in that file (the file is
  created with just the markers if missing). Writes $GVT/failures.txt: every case
  that passes natively but not under ours, with its first failure lines from the
  ours log, then the unimplemented system calls our sentry logged.

A case counts only if it passes natively (as root, here): cases that fail or are
skipped on the host are left out of every column but 'cases'.
"""
import argparse, collections, datetime, glob, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the repo
sys.path.insert(0, HERE)
import gen_list  # noqa: E402

GVT = os.environ.get('GVT', '/var/tmp/gvt')
R = os.environ.get('GVT_RESULTS', os.path.join(GVT, 'results'))
MODES = ['host', 'gvisor', 'ours']
BEGIN, END = '<!-- conformance:begin -->', '<!-- conformance:end -->'


def load():
    data = collections.defaultdict(dict)
    for f in glob.glob(os.path.join(R, '*.json')):
        d = json.load(open(f))
        data[d['test']][d['mode']] = d
    return data


def pct(a, b):
    return f'{100 * a / b:.0f}%' if b else '–'


def ok_set(d):
    return {k for k, v in d['cases'].items() if v == 'OK'}


def read(path, default=''):
    try:
        return open(path).read().strip()
    except OSError:
        return default


def table(data, names, title, out):
    """One table for a group of binaries; returns the group's totals."""
    tot = collections.Counter()
    rows = []
    for t in names:
        if t not in data or not all(m in data[t] for m in MODES):
            rows.append(f'| {t} | not run | | | | | |')
            continue
        d = data[t]
        host = ok_set(d['host'])
        gv = host & ok_set(d['gvisor'])
        ours = host & ok_set(d['ours'])
        n = d['host']['total']
        bad = collections.Counter(d['ours']['cases'][k] for k in host - ours)
        notes = ', '.join(f'{v} {k.lower()}' for k, v in sorted(bad.items())
                          if k in ('CRASH', 'HANG', 'NOTRUN'))
        tot.update(cases=n, host=len(host), gvisor=len(gv), ours=len(ours), binaries=1)
        if host and ours == host:
            tot['full'] += 1
        rows.append(f'| {t} | {n} | {len(host)} | {len(gv)} | {len(ours)} | '
                    f'{pct(len(ours), len(host))} | {notes} |')
    out.append(f'### {title}\n')
    out.append('| binary | cases | pass natively | gVisor (of those) | ours (of those) '
               '| ours / native | ours: not failed but crashed / hung / not reached |')
    out.append('|---|---:|---:|---:|---:|---:|---|')
    out += rows
    out.append(f"| **total** ({tot['binaries']} binaries) | {tot['cases']} | {tot['host']} | "
               f"{tot['gvisor']} ({pct(tot['gvisor'], tot['host'])}) | "
               f"{tot['ours']} ({pct(tot['ours'], tot['host'])}) | "
               f"{pct(tot['ours'], tot['host'])} | {tot['full']} binaries at 100% |")
    out.append('')
    return tot


def paired_table(data, names, out, host_mode, ours_mode, title, blurb):
    """Ours against a native run made with the same environment as ours (printed when
    such results exist): `ours-linux` against `host` (neither with TEST_ON_GVISOR), or
    `ours` against `host-gv` (both with gVisor's runner environment)."""
    rows, tot = [], collections.Counter()
    for t in names:
        d = data.get(t, {})
        if host_mode not in d or ours_mode not in d:
            continue
        host = ok_set(d[host_mode])
        both = host & ok_set(d[ours_mode])
        main_rate = len(ok_set(d['host']) & ok_set(d['ours'])) \
            if 'host' in d and 'ours' in d else None
        tot.update(host=len(host), ours=len(both), binaries=1)
        tot['full'] += bool(host) and both == host
        tot['low'] += len(host) > 0 and len(both) < 0.95 * len(host)
        rows.append(f'| {t} | {len(host)} | {len(both)} | {pct(len(both), len(host))} | '
                    f'{"–" if main_rate is None else main_rate} |')
    if not rows:
        return
    out.append(f'### {title}\n')
    out.append(blurb + '\n')
    out.append(f'| binary | pass natively ({host_mode}) | ours ({ours_mode}, of those) '
               '| ours / native | ours, counted the main table\'s way (of the native run without TEST_ON_GVISOR) |')
    out.append('|---|---:|---:|---:|---:|')
    out += rows
    out.append(f"| **total** ({tot['binaries']} binaries) | {tot['host']} | {tot['ours']} | "
               f"{pct(tot['ours'], tot['host'])} | {tot['full']} binaries at 100%, "
               f"{tot['low']} below 95% |")
    out.append('')


def failures(data, tests):
    """Write $GVT/failures.txt; return the unimplemented-syscall counter."""
    unimpl = collections.Counter()
    with open(os.path.join(GVT, 'failures.txt'), 'w') as out:
        out.write('# cases that pass natively but not under ours: '
                  '### binary case ours=STATUS gvisor=STATUS, then the first lines of its output\n')
        for t in tests:
            slog = os.path.join(R, f'{t}.ours.sentry.log')
            seen = set()
            for m in re.finditer(r'unimplemented syscall (\S+)', read(slog)):
                if m.group(1) not in seen:
                    seen.add(m.group(1))
                    unimpl[m.group(1)] += 1
            log = read(os.path.join(R, f'{t}.ours.log'))
            blocks = {}
            for m in re.finditer(r'^\[ RUN      \] (\S+)\n(.*?)(?=^\[ (?:RUN     |  FAILED |'
                                 r'      OK|SKIPPED) *\]|^=====|\Z)', log, re.S | re.M):
                blocks.setdefault(m.group(1), m.group(2))
            for k, v in sorted(data[t]['host']['cases'].items()):
                o = data[t]['ours']['cases'].get(k)
                g = data[t]['gvisor']['cases'].get(k)
                if v == 'OK' and o != 'OK':
                    body = '\n'.join(l for l in blocks.get(k, '').splitlines() if l.strip())[:700]
                    out.write(f'### {t} {k} ours={o} gvisor={g}\n{body}\n')
        out.write('\n## unimplemented syscalls (number of binaries whose sentry log names them)\n')
        for k, v in unimpl.most_common():
            out.write(f'{k} {v}\n')
    return unimpl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--doc', help='markdown file whose marked block is rewritten')
    a = ap.parse_args()
    data = load()
    tests = [t for t in gen_list.ISSUE10 + gen_list.SOCKETS + gen_list.EXTRA
             if t in data and all(m in data[t] for m in MODES)]
    out = []
    # run.sh appends one line per invocation: DATE<TAB>COMMAND
    cmds = [l.split('\t', 1) for l in read(os.path.join(R, 'commands')).splitlines() if '\t' in l]
    date = max((c[0] for c in cmds), default=datetime.date.today().isoformat())
    cmd = '`; `'.join(dict.fromkeys(c[1].strip() for c in cmds)) or 'run.sh'
    gcommit = read(os.path.join(GVT, 'src', 'GVISOR_COMMIT'), 'unknown')
    ours = read(os.path.join(R, 'ours.commit'), 'unknown').split()
    gver = subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'runsc'],
                          capture_output=True, text=True).stdout or 'unknown'
    out.append(f'Measured {date} (last run) by `{cmd}`; '
               f'table generated by tests/conformance/gvisor/summarize.py.\n')
    out.append(f'- gVisor test sources: google/gvisor `{gcommit.split()[0][:12]}` '
               f'({" ".join(gcommit.split()[1:])})')
    out.append(f'- ours: runsc of this repository at `{ours[0][:12] if ours else "unknown"}`')
    out.append(f"- gVisor: Debian's runsc package {gver}, `--network=none --platform=ptrace`")
    out.append('- native: the same binary as root in private pid/uts/ipc namespaces; '
               'a case counts only if it passes there\n')
    t10 = table(data, gen_list.ISSUE10, 'Issue 10 binaries (goal: ours ≥ 95% of native)', out)
    tso = table(data, gen_list.SOCKETS, 'Socket binaries (issue 9)', out)
    if any(t in data for t in gen_list.EXTRA):
        table(data, gen_list.EXTRA, 'Other calls issue 10 names (splice, sendfile, '
              'preadv2, extended attributes, ...)', out)
    out.append('### Totals\n')
    out.append('| group | pass natively | gVisor | ours |')
    out.append('|---|---:|---:|---:|')
    for name, tt in (('issue 10', t10), ('sockets', tso), ('all', t10 + tso)):
        out.append(f"| {name} | {tt['host']} | {tt['gvisor']} ({pct(tt['gvisor'], tt['host'])}) | "
                   f"{tt['ours']} ({pct(tt['ours'], tt['host'])}) |")
    out.append('')
    paired_table(data, gen_list.ISSUE10, out, 'host-gv', 'ours',
                 'Like for like: both in gVisor\'s runner environment',
                 'The native run made with the environment ours gets (`TEST_ON_GVISOR=ptrace` '
                 'and the rest of what gVisor\'s runner sets; run_tests.py\'s mode '
                 '`host-gv`), so that a test that changes itself for gVisor changes itself '
                 'on both sides; a case counts if it passes natively so.')
    paired_table(data, gen_list.ISSUE10, out, 'host', 'ours-linux',
                 'Like for like: neither with TEST_ON_GVISOR',
                 'Ours without `TEST_ON_GVISOR` (mode `ours-linux`), so that no test takes '
                 'gVisor\'s workarounds or skips: each expects what the native run expects.')
    unimpl = failures(data, tests)
    lost = sorted(((len(ok_set(data[t]['host']) - ok_set(data[t]['ours'])), t) for t in tests),
                  reverse=True)
    out.append('### Where ours loses the most natively passing cases\n')
    out.append(', '.join(f'{t} {n}' for n, t in lost[:20] if n) + '\n')
    if unimpl:
        out.append('System calls our sentry logged as unimplemented '
                   '(in how many binaries): ' +
                   ', '.join(f'{k} {v}' for k, v in unimpl.most_common()) + '\n')
    text = '\n'.join(out)
    print(text)
    if a.doc:
        doc = read(a.doc) + '\n' if os.path.exists(a.doc) else f'{BEGIN}\n{END}\n'
        if BEGIN not in doc or END not in doc:
            doc += f'\n{BEGIN}\n{END}\n'
        head, rest = doc.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        open(a.doc, 'w').write(f'{head}{BEGIN}\n{text}\n{END}{tail}')
        print(f'summarize: wrote {a.doc}', file=sys.stderr)
    print(f'summarize: failure list in {os.path.join(GVT, "failures.txt")}', file=sys.stderr)


if __name__ == '__main__':
    main()
