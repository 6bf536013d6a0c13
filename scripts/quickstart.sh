#!/usr/bin/env bash
# The quick start of the README, as root: builds if needed, creates the seed's three layers (base:
# a busybox rootfs, python: a real Python runtime, app: /app/app.py added to an open layer) in a
# store under /tmp/shibafu-quickstart (or $SHIBAFU_ROOT), runs the seed's example and a --rm
# container that changes the image, and shows that the layers did not change. Idempotent: a second
# run finds the same layers (same content, same chainIds) and leaves no container behind.
set -euo pipefail
cd "$(dirname "$0")/.."

QS=/tmp/shibafu-quickstart
export SHIBAFU_ROOT="${SHIBAFU_ROOT:-$QS/store}"
INPUTS="$QS/inputs"

# Packages and the build only when something is missing (install-deps.sh is idempotent but builds).
if [ ! -f dist/cli/shibafu.cjs ] || [ ! -f dist/test/fixtures/rootfs-make.js ] || ! command -v runc >/dev/null \
   || [ ! -x /bin/busybox ] || [ ! -x /usr/bin/python3.11 ]; then
  ./scripts/install-deps.sh
fi

shibafu() { ./bin/shibafu "$@"; }
# Shows the command as one would type it (arguments with spaces in single quotes), then runs it.
step() {
  local shown="" a
  for a in "$@"; do case "$a" in *[[:space:]\;\>\|\&]*) shown+=" '$a'" ;; *) shown+=" $a" ;; esac; done
  printf '\n\033[1m$ shibafu%s\033[0m\n' "$shown"
  shibafu "$@"
}

# Containers left by an earlier run of this script.
for id in $(shibafu ps -aq); do shibafu container rm -f "$id" >/dev/null; done

mkdir -p "$INPUTS"
[ -f "$INPUTS/base.tar" ] || node dist/test/fixtures/rootfs-make.js busybox-tar "$INPUTS/base.tar"
[ -f "$INPUTS/python.tar" ] || node dist/test/fixtures/rootfs-make.js python-tar "$INPUTS/python.tar"
printf 'print("Hello from layered container")\n' > "$INPUTS/app.py"
touch -d 2024-01-01T00:00:00Z "$INPUTS/app.py"   # same content and time: the same app layer every run

echo "store: $SHIBAFU_ROOT"
step layer create base "$INPUTS/base.tar"
step layer create python "$INPUTS/python.tar" --parent base
if ! shibafu layer inspect app >/dev/null 2>&1; then
  step layer create app --parent python
  step layer add app "$INPUTS/app.py" /app/app.py
  step layer seal app
fi
step layer list

# The seed's example, as written.
step run --layers base,python,app python3 /app/app.py
step ps -a

# A throw-away container changes the image; its upper goes away with it (--rm: volatile, no syncs).
step run --rm --layers base,python,app sh -c 'echo changed > /app/app.py; ls /'
step run --rm --layers base,python,app python3 /app/app.py
step layer list

for id in $(shibafu ps -aq); do shibafu container rm -f "$id" >/dev/null; done

if shibafu demo overlay --help >/dev/null 2>&1; then
  step demo overlay
fi
