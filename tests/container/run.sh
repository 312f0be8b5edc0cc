#!/usr/bin/env bash
# `make test-container`: prepare the engine and base images (prepare.sh), then run
# the container tests (pytest -m container) with that engine; prints each step's
# time, the image size and the total. Exits with the tests' status; exits 0 with
# a SKIP line only when this machine cannot run containers at all.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${1:?usage: run.sh PYTHON}"
CACHE="${WATCHER_CONTAINER_CACHE:-/var/cache/watcher-container}"
export WATCHER_CONTAINER_CACHE="$CACHE"
started=$SECONDS

status=0
bash "$here/prepare.sh" || status=$?
if ((status == 3)); then
    echo "SKIP: make test-container: this machine cannot run containers (see above)." >&2
    exit 0
elif ((status != 0)); then
    echo "make test-container: preparing the container engine failed (exit $status)" >&2
    exit "$status"
fi
echo "prepare.sh took $((SECONDS - started)) s" >&2

export CONTAINERS_CONF="$CACHE/containers.conf"
export PATH="$CACHE/compose/bin:$PATH"
cd "$root"
status=0
"$python" -m pytest -q -m container -p no:cacheprovider --timeout=1800 tests/container </dev/null || status=$?
echo "make test-container: $((SECONDS - started)) s in all (exit $status)" >&2
exit "$status"
