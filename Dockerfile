# watcher daemon image: `docker compose up` runs it with PostgreSQL (compose.yaml).
# Build: docker build -t watcher .    Run: docker run -v watcher-data:/data -p 8080:8080 watcher
#
# Two stages: the builder installs the hashed locks into a venv (no compilers or
# caches reach the runtime image); the runtime stage is the slim base, the venv,
# the default config, rules and seeds, and tini as PID 1.

FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# Dependencies first, so code edits do not invalidate this layer.
# --require-hashes --no-deps: exactly the locked files, nothing resolved at build time.
COPY requirements-build.lock requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements-build.lock \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock

# The project itself, with the build tools locked above (no isolated build env
# download); `pip check` fails the build if the lock misses a dependency.
COPY pyproject.toml README.md ./
COPY watcher/ ./watcher/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/watcher --help >/dev/null


FROM python:3.11-slim AS runtime

# tini as PID 1: forwards SIGTERM to the daemon (graceful stop) and reaps the
# extraction workers' zombies. 0.19.* pins the release, not the Debian rebuild.
RUN apt-get update \
    && apt-get install -y --no-install-recommends "tini=0.19.*" \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged user owning only /data (the SQLite database and state) and
# its home (for any library that caches under ~).
RUN groupadd --system --gid 10001 watcher \
    && useradd --system --uid 10001 --gid watcher --create-home --home-dir /home/watcher \
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
