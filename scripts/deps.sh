#!/usr/bin/env bash
# Installs what the build, the demo and the tests need on a fresh Debian 12 machine.
# Idempotent: does nothing that is already done.
set -euo pipefail

need=()
for pkg in gcc libc6-dev busybox-static runsc tmux debootstrap iproute2 xz-utils util-linux procps; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "deps: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The container clients the client_*.rs end-to-end tests drive, each with its own private
# daemon (docker.io brings containerd, runc and tini; podman brings conmon and
# containers-common; Podman refuses to checkpoint unless a criu binary answers its version
# check, though runsc checkpoints without it). Recommends are left out: the tests run as
# root with --network none, so none of the rootless or networking helpers is needed.
need=()
for pkg in docker.io containerd podman criu; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "deps: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "deps: cargo is not installed; install the Rust toolchain (rustup) first" >&2
    exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
