#!/usr/bin/env python3
"""Group $GVT/failures.txt (summarize.py's list of cases that pass natively but not
under ours) by their first failure: the call in the first failing assertion and the
errno it got, or CRASH / HANG / NOTRUN. A rough machine grouping to start reading
from; docs/conformance.md has the grouping by cause written by hand.

Usage: causes.py [--top 40] [--examples 3] [FAILURES_FILE]
"""
import argparse, collections, os, re

GVT = os.environ.get('GVT', '/var/tmp/gvt')
RE_HEAD = re.compile(r'^### (\S+) (\S+) ours=(\S+) gvisor=(\S+)$')
RE_CALL = re.compile(r'^(?:Value of|Expected equality of these values|Expected): *(.*)$')
RE_ERRNO = re.compile(r'errno=(\d+) ([^)]*)\)')
RE_SITE = re.compile(r'^\S+/test/syscalls/linux/(\S+?):(\d+): Failure')


def key_of(status, lines):
    """The failure's key: status for a crash/hang, the condition of a skip, else the first
    failing call and the errno it got (or 'wrong value')."""
    if status in ('CRASH', 'HANG', 'NOTRUN'):
        return status.lower()
    call = errno = site = None
    for i, l in enumerate(lines):
        if site is None:
            m = RE_SITE.match(l)
            if m:
                site = m.group(1)
        if status == 'SKIPPED' and l.endswith(': Skipped') and i + 1 < len(lines):
            return 'skipped under ours: ' + lines[i + 1].strip()[:80]
        if call is None:
            m = RE_CALL.match(l)
            if m:
                expr = m.group(1) or (lines[i + 1].strip() if i + 1 < len(lines) else '')
                if expr == '_expr_result':   # ASSERT_NO_ERRNO: the call is on the Actual line
                    for l2 in lines[i + 1:i + 4]:
                        m2 = re.search(r'PosixError\(errno=\d+ [^)]*\) (?:[A-Za-z_:]+::)?'
                                       r'([A-Za-z_][A-Za-z_0-9]*)\(', l2)
                        if m2:
                            expr = m2.group(1) + '('
                            break
                c = re.match(r'\s*(?:[A-Za-z_:]+::)?(?:\w+ = )?([A-Za-z_][A-Za-z_0-9]*)\s*\(', expr)
                call = c.group(1) if c else expr[:40]
        if errno is None:
            m = RE_ERRNO.search(l)
            if m and 'Actual' in l:
                errno = m.group(2)
    if call is None:
        return f'other ({site or "no assertion text"})'
    return f'{call}: {errno}' if errno else f'{call}: wrong value ({site})'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('file', nargs='?', default=os.path.join(GVT, 'failures.txt'))
    ap.add_argument('--top', type=int, default=40)
    ap.add_argument('--examples', type=int, default=3)
    a = ap.parse_args()
    groups = collections.defaultdict(list)
    cur = None
    body = []

    def flush():
        if cur:
            groups[key_of(cur[2], body)].append(cur)
    for line in open(a.file, errors='replace'):
        line = line.rstrip('\n')
        if line.startswith('## unimplemented'):
            break
        m = RE_HEAD.match(line)
        if m:
            flush()
            cur, body = m.groups(), []
        elif cur:
            body.append(line)
    flush()
    total = sum(len(v) for v in groups.values())
    print(f'{total} cases pass natively but not under ours; by first failure:\n')
    for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:a.top]:
        bins = collections.Counter(c[0] for c in v)
        ex = ', '.join(c[1] for c in v[:a.examples])
        print(f'{len(v):5d}  {k}\n       binaries: '
              + ', '.join(f'{b} {n}' for b, n in bins.most_common(6)) + f'\n       e.g. {ex}')


if __name__ == '__main__':
    main()
