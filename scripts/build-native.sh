#!/bin/sh
# Builds the native front end (native/shibafu-client.c -> dist/native/shibafu) that bin/shibafu
# runs. Optional: without a C compiler the build says so, and bin/shibafu runs the Node CLI
# directly (no service, the same commands).
set -eu
cd "$(dirname "$0")/.."
out=dist/native/shibafu
mkdir -p dist/native
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
  rm -f "$out"
  echo "build: no C compiler ($CC): bin/shibafu will run the Node CLI directly, without the service" >&2
  exit 0
fi
"$CC" -O2 -Wall -Wextra -Werror -o "$out.tmp" native/shibafu-client.c
mv "$out.tmp" "$out"
