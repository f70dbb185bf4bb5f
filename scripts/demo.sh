#!/usr/bin/env bash
# The demo: run a container under runsc, checkpoint it to checkpoint.img, restore it into
# a new container, and show that it went on from where it was (same counter, same /tmp,
# new stdio). Everything it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release -q -p runsc
R="$PWD/target/release/runsc"
"$R" --version

WORK=$(mktemp -d /var/tmp/runsc-demo.XXXXXX)
STATE="$WORK/state"
cleanup() {
    for id in demo demo-restored; do
        "$R" --root "$STATE" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A bundle: busybox-static as the root file system, and a counter as the workload.
B="$WORK/bundle"
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/dev" "$B/rootfs/tmp"
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in sh echo cat sleep date; do ln -s busybox "$B/rootfs/bin/$a"; done
cat > "$B/config.json" <<'JSON'
{
  "ociVersion": "1.0.2",
  "root": {"path": "rootfs"},
  "process": {
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", "echo started > /tmp/note; i=0; while true; do i=$((i+1)); echo \"count $i ($(cat /tmp/note))\"; sleep 0.2; done"],
    "env": ["PATH=/bin"],
    "cwd": "/"
  },
  "hostname": "demo",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}
  ],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}
}
JSON

echo
echo "== runsc run: the container counts (every system call served by the sentry)"
"$R" --root "$STATE" create --bundle "$B" demo > "$WORK/before.log" 2>&1
"$R" --root "$STATE" start demo
sleep 1.5
"$R" --root "$STATE" state demo | grep -E '"(id|status|pid)"' | tr -d ' ,' | paste -sd ' '

echo
echo "== runsc checkpoint --image-path $WORK/image demo"
"$R" --root "$STATE" checkpoint --image-path "$WORK/image" demo
ls -l "$WORK/image"
"$R" --root "$STATE" state demo | grep '"status"' | tr -d ' ,'
echo "-- the container's output before the checkpoint:"
cat "$WORK/before.log"
last=$(tail -n 1 "$WORK/before.log" | sed 's/count \([0-9]*\).*/\1/')
"$R" --root "$STATE" delete demo

echo
echo "== runsc restore --detach --image-path $WORK/image --bundle ... demo-restored"
"$R" --root "$STATE" restore --detach --image-path "$WORK/image" --bundle "$B" demo-restored > "$WORK/after.log" 2>&1
sleep 1.5
"$R" --root "$STATE" state demo-restored | grep -E '"(id|status)"' | tr -d ' ,' | paste -sd ' '
echo "-- the restored container's output (new stdio):"
cat "$WORK/after.log"
first=$(head -n 1 "$WORK/after.log" | sed 's/count \([0-9]*\).*/\1/')
echo
if [ "$first" = "$((last + 1))" ]; then
    echo "The restored container went on from count $last to $first: it continued, it did not restart."
else
    echo "unexpected: last count before checkpoint $last, first after restore $first" >&2
    exit 1
fi
