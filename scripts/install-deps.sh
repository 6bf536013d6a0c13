#!/usr/bin/env bash
# Installs what shibafu needs on a fresh Debian machine (as root): the OCI runtime, a static
# busybox for test rootfs layers, a Python runtime for the seed's example layer, xattr and zstd
# tools, btrfs-progs (reflink tests on a btrfs loop device), util-linux's `script` (TTY tests), a C
# compiler for the native front end (native/shibafu-client.c), fuse-overlayfs (the fuse-overlayfs driver;
# fuse3 brings fusermount3 and /dev/fuse's udev rule), zfs-fuse (the zfs driver's tests: ZFS
# without the kernel module; the tests start its daemon when none runs), buildah, skopeo, umoci and
# podman (the image tests build their images with them and judge shibafu's output with them),
# docker-registry (the registry tests start one on 127.0.0.1), apache2-utils (htpasswd's bcrypt)
# and openssl (a token server's certificate);
# then the npm dependencies and the build. Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(runc crun busybox-static attr zstd btrfs-progs python3-minimal bsdutils e2fsprogs graphviz gcc libc6-dev fuse-overlayfs fuse3 zfs-fuse buildah skopeo umoci podman docker-registry apache2-utils openssl)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules/better-sqlite3/build ] || [ ! -d node_modules/koffi ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
