# watcher daemon image: `docker compose up` runs it with PostgreSQL (compose.yaml).
# Build: docker build -t watcher .    Run: docker run -v watcher-data:/data -p 8080:8080 watcher
#
# Two stages: the builder installs the hashed locks into a venv, then removes what
# only building needed (pip, setuptools, wheel), test suites, headers, the
# bytecode of modules the daemon never imports and the locale tables nothing reads; the runtime stage is the slim base,
# that venv, the default config, rules and seeds, and tini as PID 1. No compiler,
# package manager cache or build tool reaches the runtime image
# (`make test-container` checks it; BENCHMARKS.md has the size breakdown).

FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# tini for the runtime stage: Debian's statically linked build, so the runtime
# stage needs no APT run (and keeps no package lists or dpkg state changes).
# 0.19.* pins the release, not the Debian rebuild.
RUN apt-get update \
    && apt-get install -y --no-install-recommends "tini=0.19.*" \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
RUN python -m venv /opt/venv

# Dependencies first, so code edits do not invalidate this layer.
# --require-hashes --no-deps: exactly the locked files, nothing resolved at build time.
COPY requirements-build.lock requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --no-compile --require-hashes --no-deps -r requirements-build.lock \
    && /opt/venv/bin/pip install --no-cache-dir --no-compile --require-hashes --no-deps -r requirements.lock

# The project itself, with the build tools locked above (no isolated build env
# download); `pip check` fails the build if the lock misses a dependency.
COPY pyproject.toml README.md container/precompile.py ./
COPY watcher/ ./watcher/
RUN /opt/venv/bin/pip install --no-cache-dir --no-compile --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/watcher --help >/dev/null

# What the runtime does not need (about 110 MB; the breakdown is in BENCHMARKS.md):
# - the build tools, pip included (the image never installs anything at run time);
#   `packaging` stays: Procrastinate reads versions with it at run time;
# - bytecode, except for the modules the daemon, the extraction workers and the
#   CLI actually import (container/precompile.py: ~15 of the ~60 MB, and a start
#   as fast as with all of it);
# - NumPy's test suites and C headers;
# - Babel's locale data except root, English and Japanese: only courlan's URL
#   language filter reads it, which watcher never enables (no target language).
# trafilatura, htmldate, dateparser and justext data stay whole: extraction uses it.
# precompile.py fails the build if extraction or migrations stop working.
ARG SITE=/opt/venv/lib/python3.11/site-packages
RUN /opt/venv/bin/python -m pip uninstall --yes --quiet setuptools wheel \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip \
    && find /opt/venv -depth -name __pycache__ -type d -exec rm -rf {} + \
    && find "$SITE/numpy" -depth -type d -name tests -exec rm -rf {} + \
    && rm -rf "$SITE/numpy/_core/include" \
    && find "$SITE/babel/locale-data" -type f -not -name root.dat -not -name 'en*.dat' \
        -not -name 'ja*.dat' -delete \
    && /opt/venv/bin/python -c "import dateparser, justext, courlan, numpy" \
    && /opt/venv/bin/python /src/precompile.py \
    && /opt/venv/bin/watcher --help >/dev/null


FROM python:3.11-slim AS runtime

# tini as PID 1: forwards SIGTERM to the daemon (graceful stop) and reaps the
# extraction workers' zombies.
COPY --from=builder /usr/bin/tini-static /usr/bin/tini

# An unprivileged user owning only /data (the SQLite database and state) and
# its home (for any library that caches under ~). uid/gid 10001: above any
# account a base image or a host's first users have, so files in /data never
# map onto one of them. It is a regular account, not --system: useradd warns
# when a system account's uid is above SYS_UID_MAX (999), and 10001 is inside
# the regular range; --no-log-init keeps the sparse lastlog file out of the layer.
RUN groupadd --gid 10001 watcher \
    && useradd --no-log-init --uid 10001 --gid watcher --create-home --home-dir /home/watcher \
        --shell /usr/sbin/nologin watcher \
    && mkdir -p /data \
    && chown watcher:watcher /data

COPY --from=builder /opt/venv /opt/venv

# Code and config stay root-owned and read-only to the daemon.
WORKDIR /app
COPY rules/ ./rules/
COPY seeds/ ./seeds/
COPY watcher.toml ./

# TINI_SUBREAPER: still reaps children when compose's `init: true` (or
# `docker run --init`) puts another init in front of tini.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TINI_SUBREAPER=1 \
    WATCHER_CONFIG=/app/watcher.toml \
    WATCHER_DATABASE_URL=sqlite:////data/watcher.db \
    WATCHER_LISTEN=0.0.0.0:8080

VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["watcher", "health"]

ENTRYPOINT ["tini", "--"]
CMD ["watcher", "run"]
