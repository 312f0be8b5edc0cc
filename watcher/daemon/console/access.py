"""Who may see the console: the token, the session cookie, and when the console is off.

* With `WATCHER_WEB_TOKEN` set, every console page needs `Authorization:
  Bearer <token>` or the session cookie the login form (`/login`) sets.
  No credentials (or an expired cookie): 401 with the login form. A wrong
  token (header or form) or a forged cookie: 403.
* Without a token the console is served only on a loopback address; a
  daemon listening beyond loopback without a token keeps `/healthz` and
  `/metrics` and turns the console off (`console_refusal` says why, the
  daemon logs it).
* Always open: `/healthz` (health checks carry no token), `/metrics`
  (Prometheus scrapers: counters and gauges, no article text, no secrets),
  `/login` and `/static/` (the form and its stylesheet).

The session cookie is stateless: `<expiry>.<HMAC-SHA256 of it keyed by the
token>`, HttpOnly and SameSite=Strict, valid for `SESSION_SECONDS`; changing
the token ends every session. Nothing is stored on the server.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass

from watcher.settings import parse_listen

__all__ = [
    "COOKIE",
    "OPEN_PATHS",
    "SESSION_SECONDS",
    "Verdict",
    "check_request",
    "console_refusal",
    "is_loopback",
    "make_session",
    "safe_next",
]

COOKIE = "watcher_session"
SESSION_SECONDS = 12 * 3600
OPEN_PATHS = frozenset({"/healthz", "/metrics", "/login"})
OPEN_PREFIXES = ("/static/",)


def is_loopback(listen: str) -> bool:
    """True when `listen` (host:port) binds a loopback address only."""
    host, _port = parse_listen(listen)
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # "", 0.0.0.0-like names and host names: beyond loopback


def console_refusal(listen: str, token: str | None) -> str | None:
    """Why the console must stay off, or None when it may be served."""
    if token or is_loopback(listen):
        return None
    return (
        f"web.listen {listen} is beyond loopback and WATCHER_WEB_TOKEN is not set: "
        "the console is off (only /healthz and /metrics are served)"
    )


def _sign(token: str, expires: int) -> str:
    return hmac.new(
        token.encode(), f"watcher-console:{expires}".encode(), hashlib.sha256
    ).hexdigest()


def make_session(token: str, now: float | None = None) -> str:
    """A session cookie value valid for `SESSION_SECONDS` from `now`."""
    expires = int((time.time() if now is None else now) + SESSION_SECONDS)
    return f"{expires}.{_sign(token, expires)}"


def _session_state(token: str, value: str, now: float) -> str:
    """`valid`, `expired` or `forged` for a cookie value."""
    expires_text, _dot, signature = value.partition(".")
    if not expires_text.isdigit() or not hmac.compare_digest(
        _sign(token, int(expires_text)), signature
    ):
        return "forged"
    return "valid" if int(expires_text) > now else "expired"


@dataclass(frozen=True)
class Verdict:
    """What the access check decided: 200 (let through), 401 (log in) or 403."""

    status: int
    reason: str = ""


def check_request(
    token: str | None,
    path: str,
    authorization: str | None,
    cookie: str | None,
    now: float | None = None,
) -> Verdict:
    """Decide whether a request for `path` may see the console."""
    if not token or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return Verdict(200)
    if authorization:
        return _bearer(token, authorization)
    if cookie:
        return _COOKIE_VERDICTS[_session_state(token, cookie, time.time() if now is None else now)]
    return Verdict(401, "log in")


_COOKIE_VERDICTS = {
    "valid": Verdict(200),
    "forged": Verdict(403, "invalid session"),
    "expired": Verdict(401, "session expired"),
}


def _bearer(token: str, authorization: str) -> Verdict:
    scheme, _space, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return Verdict(401, "use Authorization: Bearer <token>")
    if hmac.compare_digest(given.strip().encode(), token.encode()):
        return Verdict(200)
    return Verdict(403, "wrong token")


def safe_next(target: str | None) -> str:
    """A local path to go to after login (never another host): else `/`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
