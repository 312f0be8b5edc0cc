"""`watcher health`: ask a running daemon's `/healthz`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import click

from watcher.cli.common import (
    config_option,
    fail,
)
from watcher.errors import ConfigError
from watcher.settings import parse_listen


@click.command()
@config_option
def health(config_path: Path | None) -> None:
    """Ask the running daemon's /healthz (the container's HEALTHCHECK): exit 0 when healthy.

    Uses $WATCHER_LISTEN, else `web.listen` (read leniently: a half-edited
    config does not fail the check while the daemon runs on its last good
    one); a wildcard host is asked on 127.0.0.1. Exit 1 with the daemon's
    reason when unhealthy or unreachable. With several processes on one
    PostgreSQL it also says how many of them are alive (heartbeats in the
    shared queue).

    \b
    Example:
      watcher health
    """
    from watcher.config import listen_address

    try:
        url = health_url(listen_address(config_path))
    except ConfigError as exc:
        fail(str(exc))
        return
    result = probe(url)
    if not result.ok:
        fail(f"unhealthy: {result.reason}", code=1)
    alive = "" if result.processes is None else f"; {result.processes} processes alive"
    click.echo(f"healthy ({url}){alive}")


PROBE_TIMEOUT = 3.0  # seconds for `watcher health`


def health_url(listen: str) -> str:
    """The `/healthz` URL for a listen address (a wildcard host is asked on loopback)."""
    host, port = parse_listen(listen)
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/healthz"


@dataclass(frozen=True)
class ProbeResult:
    """What `/healthz` answered: `ok` on 200, else the reason to print."""

    ok: bool
    status: int | None
    reason: str
    # Daemons alive on the shared PostgreSQL queue (None: embedded scheduler, or not said).
    processes: int | None = None


def probe(url: str, *, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """GET `url` once; never raises for an unreachable or unhealthy daemon."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status, body = resp.status, resp.read(65536)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(65536)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return ProbeResult(False, None, f"{url}: {reason}")
    return ProbeResult(status == 200, status, _reason(status, body), _processes(body))


def _processes(body: bytes) -> int | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("processes_alive") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def _reason(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if status == 200:
            return str(data.get("status", "ok"))
        reason = data.get("reason")
        if reason:
            return str(reason)
    return f"HTTP {status}: {body[:200].decode('utf-8', 'replace').strip()}"
