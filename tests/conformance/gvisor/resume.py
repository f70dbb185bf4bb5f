#!/usr/bin/env python3
"""Resume NOTRUN cases of <test>.<mode>.json (budget ran out after hangs):
run only those (minus --exclude regex) with the same timeout, merge, recount.
Appends to <test>.<mode>.log."""
import sys, os, json, re, argparse, time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_tests as R
ap = argparse.ArgumentParser()
ap.add_argument('test'); ap.add_argument('--mode', default='ours')
ap.add_argument('--exclude', default=None); ap.add_argument('--timeout', type=int, default=90)
ap.add_argument('--attempts', type=int, default=3)
a = ap.parse_args()
jp = os.path.join(R.RESULTS, f'{a.test}.{a.mode}.json')
d = json.load(open(jp))
logp = os.path.join(R.RESULTS, f'{a.test}.{a.mode}.log')
with open(logp, 'a') as logf:
    for att in range(a.attempts):
        rem = [c for c, s in d['cases'].items() if s == 'NOTRUN' and not (a.exclude and re.search(a.exclude, c))]
        if not rem: break
        text, rc, hung, dt = R.run_once(a.mode, a.test, ['--gtest_filter=' + ':'.join(rem)], a.timeout, logf, 10 + att)
        started, ended = R.parse(text)
        for c, s in ended.items(): d['cases'][c] = s
        infl = [c for c in started if c not in ended]
        for c in infl: d['cases'][c] = 'HANG' if hung else 'CRASH'
        d['runs'].append({'rc': rc, 'hung': hung, 'secs': round(dt, 1), 'started': len(started),
                          'ended': len(ended), 'inflight': infl[:3], 'resume': True})
        if not started: break
cnt = {}
for s in d['cases'].values(): cnt[s] = cnt.get(s, 0) + 1
d['counts'] = cnt
json.dump(d, open(jp, 'w'), indent=1)
print(a.test, a.mode, cnt)
