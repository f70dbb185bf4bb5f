#!/bin/bash
# Extract gVisor's syscall test sources (test/syscalls/linux, test/util) into $GVT/src
# and adapt them to Debian bookworm's libraries (absl 20220623, gtest 1.12).
# Nothing of gVisor's ever enters this repository: sources, objects and binaries live
# under $GVT (default /var/tmp/gvt).
# Usage: fetch_and_patch.sh GVISOR_GIT_DIR [REV]
#   GVISOR_GIT_DIR: a bare git directory (or clone) of github.com/google/gvisor;
#   REV: the commit to extract (default HEAD; $GVISOR_REV also sets it).
# Packages (run.sh installs them): g++ libgtest-dev libgmock-dev libabsl-dev
#           libbenchmark-dev libcap-dev
set -euo pipefail
GVT=${GVT:-/var/tmp/gvt}
GIT=${1:?usage: fetch_and_patch.sh GVISOR_GIT_DIR [REV]}
REV=${2:-${GVISOR_REV:-HEAD}}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$GVT/src"; mkdir -p "$GVT/src"
git --git-dir="$GIT" archive "$REV" test/syscalls/linux test/util | tar -x -C "$GVT/src"
git --git-dir="$GIT" log -1 --format='%H %cd' "$REV" > "$GVT/src/GVISOR_COMMIT"
cd "$GVT/src"
# 1. absl 20220623: MutexLock/ReaderMutexLock/WriterMutexLock take Mutex*.
grep -rlE 'absl::(Reader|Writer)?MutexLock' test | xargs sed -i -E \
  's/(absl::(Reader|Writer)?MutexLock[[:space:]]+[A-Za-z_0-9]+\()[[:space:]]*([^&)[:space:]])/\1\&\3/g'
# 2. absl 20220623 has no lowercase lock()/unlock() on absl::Mutex.
grep -rl 'absl/synchronization/mutex.h' test | xargs sed -i -E \
  's/\b(mu|mu_|mutex|m)\.lock\(\)/\1.Lock()/g; s/\b(mu|mu_|mutex|m)\.unlock\(\)/\1.Unlock()/g'
# 3. absl::StrSplit into std::string_view (absl::string_view is its own type here).
sed -i -E 's/std::string_view/absl::string_view/g' test/util/mount_util.h test/util/mount_util.cc
# 4. bazel runfiles helper: replace by a stub (binaries looked up next to the test).
cp "$HERE/test_util_runfiles_stub.cc" test/util/test_util_runfiles.cc
echo "patched $(cat GVISOR_COMMIT)"
