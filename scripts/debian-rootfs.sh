#!/usr/bin/env bash
# Builds (once) a Debian bookworm root filesystem for the end-to-end tests that run real
# Debian programs in the sandbox, and prints its path. Cached in $RUNSC_DEBIAN_CACHE
# (default /var/cache/runsc-tests/debian-bookworm); a half-built tree is never used (it is
# built under a temporary name and renamed when complete), and a tree built with another
# package list is built again (`.complete` holds the list).
set -euo pipefail
cache="${RUNSC_DEBIAN_CACHE:-/var/cache/runsc-tests/debian-bookworm}"
# minbase plus the applications the tests run: servers (nginx, redis), clients (curl),
# runtimes (python3, node), sqlite3, xz for tar cJ, procps for ps.
packages="python3,curl,redis-server,nginx-light,nodejs,sqlite3,xz-utils,procps"
if [ -f "$cache/.complete" ] && [ "$(cat "$cache/.complete")" = "$packages" ]; then
    echo "$cache"
    exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi
mirror="${RUNSC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
tmp="$cache.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$cache")"
debootstrap --variant=minbase --include="$packages" bookworm "$tmp" "$mirror" >&2
echo "$packages" > "$tmp/.complete"
rm -rf "$cache"
mv "$tmp" "$cache"
echo "$cache"
