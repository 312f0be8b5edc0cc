#!/usr/bin/env bash
# Prepares a container engine for `make test-container` on a machine of this kind:
#
#   1. Debian's podman, runc and debootstrap when missing (apt-get, as in .ci/run);
#   2. a containers.conf for machines without systemd and with mixed cgroups
#      (runc, cgroupfs, file events, no default ulimits), used via CONTAINERS_CONF;
#   3. podman-compose from the package index, hashed, in its own venv;
#   4. the base images python:3.11-slim and postgres:15: pulled when the registry
#      answers, else stand-ins built from Debian packages (standins/), tagged with
#      the same names and labelled with a hash of their recipe, so a later run
#      finds them in podman's image store and pays for debootstrap only when the
#      recipe changes.
#
# Everything lives under $CACHE (default /var/cache/watcher-container) and in
# podman's own store. Exit codes: 0 ready, 3 this machine cannot run containers
# at all (no namespaces), anything else a failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${WATCHER_CONTAINER_CACHE:-/var/cache/watcher-container}"
MIRROR="${WATCHER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PULL_TIMEOUT="${WATCHER_PULL_TIMEOUT:-120}"
mkdir -p "$CACHE"
export CONTAINERS_CONF="$CACHE/containers.conf"

step_started=0
step() { step_started=$SECONDS; echo "prepare: $*" >&2; }
done_step() { echo "prepare:   ... $((SECONDS - step_started)) s" >&2; }

# --- can this machine run containers at all? -------------------------------------
if ! unshare --mount --pid --net --uts --ipc --fork true 2>/dev/null; then
    echo "SKIP: this machine cannot create namespaces (unshare failed);" \
        "no container engine can run here, so the container tests cannot run." >&2
    exit 3
fi

# --- packages ----------------------------------------------------------------------
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v conmon >/dev/null || [[ -x /usr/libexec/podman/conmon ]] || missing+=(conmon)
[[ -x /usr/lib/podman/netavark || -x /usr/libexec/podman/netavark ]] || missing+=(netavark)
[[ -x /usr/lib/podman/aardvark-dns || -x /usr/libexec/podman/aardvark-dns ]] \
    || missing+=(aardvark-dns)
command -v iptables >/dev/null || missing+=(iptables)
if ((${#missing[@]})); then
    step "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # Wait for another apt/dpkg run (a parallel job) instead of failing at once.
    apt=(apt-get -qq -o DPkg::Lock::Timeout=600)
    "${apt[@]}" update </dev/null >/dev/null
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null >/dev/null
    done_step
fi

# --- engine configuration ----------------------------------------------------------
# crun refuses this machine's mixed cgroup v1/v2 mounts; there is no systemd to
# manage cgroups or journald to log events; root may not raise RLIMIT_NOFILE.
cat >"$CONTAINERS_CONF.tmp" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"

# --- podman-compose ----------------------------------------------------------------
compose_lock="$here/requirements-compose.lock"
compose_key="$(sha256sum "$compose_lock" | cut -c1-16)"
compose_venv="$CACHE/compose-$compose_key"
if [[ ! -x "$compose_venv/bin/podman-compose" ]]; then
    step "installing podman-compose into $compose_venv"
    rm -rf "$compose_venv"
    python3 -m venv "$compose_venv"
    "$compose_venv/bin/pip" install --quiet --require-hashes --no-deps -r "$compose_lock"
    done_step
fi
ln -sfn "$compose_venv" "$CACHE/compose"

# --- base images -------------------------------------------------------------------
# The recipe's hash: the stand-in files and the extra CA certificates baked in.
ca_dir=/usr/local/share/ca-certificates
key="$(cat "$here"/standins/* "$ca_dir"/*.crt 2>/dev/null | sha256sum | cut -c1-16)"
bookworm="localhost/watcher-standin/bookworm:$key"

label_of() {
    podman image inspect --format '{{index .Labels "watcher.standin"}}' "$1" 2>/dev/null || true
}

# Usable when present and either real (no stand-in label) or a stand-in of this recipe.
base_ready() {
    local name="$1" label
    podman image exists "$name" || return 1
    label="$(label_of "$name")"
    [[ -z "$label" || "$label" == "<no value>" || "$label" == "$key" ]]
}

try_pull() {
    local name="$1"
    step "pulling $name"
    if timeout "$PULL_TIMEOUT" podman pull --quiet "$name" >/dev/null 2>"$CACHE/pull.err"; then
        done_step
        return 0
    fi
    echo "prepare:   cannot pull $name ($(tail -n1 "$CACHE/pull.err")); using a stand-in" >&2
    return 1
}

ensure_bookworm() {
    podman image exists "$bookworm" && return 0
    step "debootstrap bookworm minbase + Python 3.11 (stand-in base, key $key)"
    local rootfs="$CACHE/rootfs-$key"
    rm -rf "$rootfs"
    bash "$here/standins/debootstrap.sh" "$rootfs" "$MIRROR" "$ca_dir"
    tar -C "$rootfs" -c . | podman import \
        --change 'CMD ["python3"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL watcher.standin=$key" \
        --quiet - "$bookworm" >/dev/null
    rm -rf "$rootfs"
    done_step
}

python_image=docker.io/library/python:3.11-slim
if ! base_ready "$python_image" && ! try_pull "$python_image"; then
    ensure_bookworm
    podman tag "$bookworm" "$python_image"
fi

postgres_image=docker.io/library/postgres:15
if ! base_ready "$postgres_image" && ! try_pull "$postgres_image"; then
    ensure_bookworm
    step "building the postgres:15 stand-in (Debian postgresql-15)"
    old_id="$(podman image inspect --format '{{.Id}}' "$postgres_image" 2>/dev/null || true)"
    podman build --quiet --format docker --network=host --build-arg "BASE=$bookworm" \
        --label "watcher.standin=$key" -f "$here/standins/postgres.Containerfile" \
        -t "$postgres_image" "$here/standins" >/dev/null
    [[ -z "$old_id" ]] || podman rmi "$old_id" >/dev/null 2>&1 || true
    done_step
fi

# Bases of older recipes: untag them (an image still used by another tag or by a
# container stays). Never `image prune` by label: images built on a stand-in
# inherit its label, and the build cache of the watcher image would go too.
podman images --format '{{.Repository}}:{{.Tag}}' \
    | grep '^localhost/watcher-standin/bookworm:' | grep -v ":$key\$" \
    | xargs -r podman rmi >/dev/null 2>&1 || true

for name in "$python_image" "$postgres_image"; do
    label="$(label_of "$name")"
    if [[ -z "$label" || "$label" == "<no value>" ]]; then
        echo "prepare: $name: the real image" >&2
    else
        echo "prepare: $name: stand-in $label (cached in podman's image store)" >&2
    fi
done
