#!/usr/bin/env bash
# The fast subset of gVisor's syscall tests, for CI: a few binaries that pass fully under
# our runsc and run in well under a minute. It builds nothing: gVisor's binaries take
# ~30 minutes to build, so this runs only where run.sh has built them ($GVT/bin) and
# otherwise says so and exits 0.
#
# Usage: tests/conformance/gvisor/ci.sh [TEST...]      (default: the FAST list below)
# Each binary runs natively and under ours (not under gVisor); every case that passes
# natively must pass under ours. Results go to $GVT/ci-results, never over run.sh's.
# Prints 'conformance: N passed, N failed' (cases) and exits 1 if any failed.
{
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
export GVT=${GVT:-/var/tmp/gvt}
export GVT_RESULTS=$GVT/ci-results
# Chosen from the measurement in docs/conformance.md: 100% of the natively passing
# cases under ours, a few seconds each. Extend it as binaries reach 100%.
FAST=(chdir fchdir uname sigaltstack sigprocmask dup pwrite64 read write lseek)
if [ $# -gt 0 ]; then TESTS=("$@"); else TESTS=("${FAST[@]/%/_test}"); fi

missing=()
for t in "${TESTS[@]}"; do [ -x "$GVT/bin/$t" ] || missing+=("$t"); done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "conformance: skipped, gVisor's test binaries are not built here (${missing[*]});" \
         "tests/conformance/gvisor/run.sh builds them (~30 min)"
    exit 0
fi
OURS=${OURS:-$REPO/target/release/runsc}
if [ ! -x "$OURS" ]; then
    (cd "$REPO" && cargo build --release -p runsc)
fi
export OURS
rm -rf "$GVT_RESULTS"
mkdir -p "$GVT_RESULTS"
python3 "$HERE/run_tests.py" --modes host,ours --timeout 60 --resumes 1 --budget 120 "${TESTS[@]}"
python3 - "${TESTS[@]}" <<'EOF'
import json, os, sys
R = os.environ['GVT_RESULTS']
passed = failed = 0
for t in sys.argv[1:]:
    host = json.load(open(os.path.join(R, f'{t}.host.json')))['cases']
    ours = json.load(open(os.path.join(R, f'{t}.ours.json')))['cases']
    for case, status in sorted(host.items()):
        if status != 'OK':
            continue
        if ours.get(case) == 'OK':
            passed += 1
        else:
            failed += 1
            print(f'FAIL {t} {case}: {ours.get(case)} under ours (log: {R}/{t}.ours.log)')
print(f'conformance: {passed} passed, {failed} failed')
sys.exit(1 if failed else 0)
EOF
}
