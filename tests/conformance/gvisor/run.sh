#!/usr/bin/env bash
# gVisor's syscall conformance tests against our runsc: one entry point.
#
# Usage: tests/conformance/gvisor/run.sh [--only MODES] [--doc] [--no-build]
#                                        [--timeout S] [TEST...]
#   --only MODES  comma-separated subset of host,gvisor,ours (default all three:
#                 natively = the truth, Debian's gVisor = the reference, ours)
#   --doc         afterwards rewrite the table in docs/conformance.md (between its markers)
#   --no-build    run only what is built already
#   TEST...       binaries (e.g. pipe_test); default: every binary gen_list.py chooses
#
# What it does, each step skipped when already done:
#   1. installs the apt packages (g++, Debian's gtest/gmock/absl/benchmark, libcap, and
#      runsc: Debian's gVisor, /usr/bin/runsc);
#   2. builds our runsc (cargo build --release -p runsc) if target/release/runsc is missing;
#      $OURS overrides the binary (it is always called by path: /usr/bin/runsc is gVisor's);
#   3. extracts gVisor's test sources from a git directory of google/gvisor into $GVT/src
#      and patches them for Debian's libraries (fetch_and_patch.sh);
#   4. writes $GVT/tests.list (gen_list.py) and builds what is missing (build.sh: about
#      30 minutes on 2 cores the first time, objects cached in $GVT/build/obj);
#   5. runs each binary in each mode (run_tests.py: a hang is killed after --timeout and
#      the binary resumed on the cases not reached);
#   6. prints the summary (summarize.py) and writes $GVT/failures.txt.
#
# Environment: GVT (default /var/tmp/gvt: sources, build tree, binaries, results; never in
# the repo), GVISOR_GIT (git dir of google/gvisor), GVISOR_REV (default HEAD of it), OURS,
# JOBS (compile jobs, default 2).
# (the body is one { } block: bash reads it whole, so editing this file mid-run is safe)
{
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
export GVT=${GVT:-/var/tmp/gvt}
MODES=host,gvisor,ours
DOC=0
BUILD=1
TIMEOUT=120
TESTS=()
ARGS=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --only) MODES=$2; shift 2 ;;
        --only=*) MODES=${1#--only=}; shift ;;
        --doc) DOC=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown flag $1" >&2; exit 2 ;;
        *) TESTS+=("$1"); shift ;;
    esac
done
RESULTS=${GVT_RESULTS:-$GVT/results}
mkdir -p "$RESULTS"

# 1. packages
need=()
for pkg in g++ libgtest-dev libgmock-dev libabsl-dev libbenchmark-dev libcap-dev runsc python3 util-linux git; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "run.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. our runsc
if [[ ",$MODES," == *,ours,* ]]; then
    if [ -z "${OURS:-}" ]; then
        OURS=$REPO/target/release/runsc
        if [ ! -x "$OURS" ]; then
            echo "run.sh: building our runsc (cargo build --release -p runsc)"
            (cd "$REPO" && nice -n 19 cargo build --release -p runsc)
        fi
        OURS_COMMIT=${OURS_COMMIT:-$(git -C "$REPO" rev-parse HEAD)}
    fi
    export OURS
    echo "${OURS_COMMIT:-unknown} $OURS" > "$RESULTS/ours.commit"
fi

# 3. gVisor's sources
if [ ! -f "$GVT/src/GVISOR_COMMIT" ] || { [ -n "${GVISOR_REV:-}" ] &&
        ! grep -q "^$(git --git-dir="${GVISOR_GIT:-$GVT/gvisor.git}" rev-parse "$GVISOR_REV" 2>/dev/null) " "$GVT/src/GVISOR_COMMIT"; }; then
    if [ -z "${GVISOR_GIT:-}" ]; then
        for d in "$GVT/gvisor.git" /work/.mirror/google+gvisor/repo; do
            if [ -d "$d" ]; then GVISOR_GIT=$d; break; fi
        done
    fi
    if [ -z "${GVISOR_GIT:-}" ]; then
        echo "run.sh: cloning gVisor (set GVISOR_GIT to use a git directory you have)"
        git clone --bare --filter=blob:none https://github.com/google/gvisor.git "$GVT/gvisor.git"
        GVISOR_GIT=$GVT/gvisor.git
    fi
    bash "$HERE/fetch_and_patch.sh" "$GVISOR_GIT" "${GVISOR_REV:-HEAD}"
    rm -rf "$GVT/build/obj" "$GVT/build/util" "$GVT/build/libgvtutil.a"  # new sources: rebuild
fi
python3 "$HERE/gen_list.py" "$GVT/src" > "$GVT/tests.list"

# 4. build (helpers first: exec_test and sigaltstack_test exec them)
if [ "$BUILD" = 1 ]; then
    mapfile -t helpers < <(python3 "$HERE/gen_list.py" --names --group helpers)
    if [ "${#TESTS[@]}" -gt 0 ]; then
        bash "$HERE/build.sh" "${helpers[@]}" "${TESTS[@]}" > "$GVT/build.out" 2>&1
    else
        bash "$HERE/build.sh" > "$GVT/build.out" 2>&1
    fi
    grep -c '^OK' "$GVT/build.out" | sed 's/^/run.sh: built binaries: /'
    grep '^FAIL' "$GVT/build.out" || true
fi

# 5. run
# the invocations whose results the table combines (summarize.py lists them)
flags=""
[ "$MODES" = host,gvisor,ours ] || flags+="--only $MODES "
[ "$BUILD" = 1 ] || flags+="--no-build "
[ "$TIMEOUT" = 120 ] || flags+="--timeout $TIMEOUT "
ntests=${#TESTS[@]}
what="[all binaries]"; [ "$ntests" -eq 0 ] || what="[$ntests binaries]"
echo "$(date -u '+%Y-%m-%d')	tests/conformance/gvisor/run.sh ${flags}${what}" >> "$RESULTS/commands"
python3 "$HERE/run_tests.py" --modes "$MODES" --timeout "$TIMEOUT" "${TESTS[@]}"

# 6. summary
if [ "$DOC" = 1 ]; then
    python3 "$HERE/summarize.py" --doc "$REPO/docs/conformance.md"
else
    python3 "$HERE/summarize.py"
fi
echo "run.sh: results in $RESULTS, failure list in $GVT/failures.txt"
exit
}
