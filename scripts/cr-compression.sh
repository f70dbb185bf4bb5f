#!/bin/bash
# Image sizes and checkpoint/restore times with --compression=none and --compression=zstd
# (docs/checkpoint.md, "Compression"): an idle busybox loop (sizes from `runsc statefile
# inspect`), and a guest holding 256 MiB of noise (tests/guest/memnoise.c; checkpoint
# without --leave-running, then restore --detach under a new id), ROUNDS times each.
#
#   scripts/cr-compression.sh [ROUNDS]      (as root, after cargo build --release -p runsc)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNSC=$PWD/target/release/runsc
ROUNDS=${1:-3}
W=$(mktemp -d /var/tmp/cr-compression.XXXXXX)
ROOT=$W/state
cleanup() {
    for id in $("$RUNSC" --root "$ROOT" list -q 2>/dev/null); do
        "$RUNSC" --root "$ROOT" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$W"
}
trap cleanup EXIT

bundle() { # NAME ARGS-JSON
    local b=$W/$1
    mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/tmp"
    cp /bin/busybox "$b/rootfs/bin/busybox"
    for a in sh sleep; do ln -sf busybox "$b/rootfs/bin/$a"; done
    gcc -static -O2 -o "$b/rootfs/bin/memnoise" tests/guest/memnoise.c
    cat > "$b/config.json" <<JSON
{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
 "process": {"args": $2, "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}],
 "linux": {"namespaces": [{"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}}
JSON
    echo "$b"
}
now() { date +%s.%N; }
ms() { echo "($2 - $1) * 1000 / 1" | bc; }

echo "== idle busybox loop: sh -c 'while true; do sleep 1; done'"
B=$(bundle idle '["sh", "-c", "while true; do sleep 1; done"]')
"$RUNSC" --root "$ROOT" run --detach --bundle "$B" idle >/dev/null
sleep 1.5
for c in none zstd; do
    "$RUNSC" --root "$ROOT" checkpoint --leave-running --compression=$c --image-path "$W/idle-$c" idle
    echo "-- --compression=$c: $(stat -c %s "$W/idle-$c/checkpoint.img") bytes"
    "$RUNSC" statefile inspect "$W/idle-$c" | sed -n '2,3p'
done
"$RUNSC" --root "$ROOT" delete --force idle

echo "== 256 MiB of noise: memnoise 256"
B=$(bundle noise '["/bin/memnoise", "256"]')
for r in $(seq "$ROUNDS"); do
    for c in none zstd; do
        id=noise-$c-$r
        "$RUNSC" --root "$ROOT" run --detach --bundle "$B" "$id" > "$W/$id.out"
        until grep -q ready "$W/$id.out"; do sleep 0.1; done
        t0=$(now)
        "$RUNSC" --root "$ROOT" checkpoint --compression=$c --image-path "$W/$id" "$id"
        t1=$(now)
        "$RUNSC" --root "$ROOT" delete "$id"
        sync; echo 3 > /proc/sys/vm/drop_caches
        t2=$(now)
        "$RUNSC" --root "$ROOT" restore --detach --image-path "$W/$id" --bundle "$B" "$id-r" > "$W/$id-r.out"
        t3=$(now)
        echo "-- round $r --compression=$c: image $(stat -c %s "$W/$id/checkpoint.img") bytes, checkpoint $(ms "$t0" "$t1") ms, restore (cold cache) $(ms "$t2" "$t3") ms"
        "$RUNSC" --root "$ROOT" delete --force "$id-r"
        rm -rf "$W/$id"
    done
done
