"""The settings watcher runs with: typed, frozen values and their defaults.

These are plain values, so every stage may take the part it needs (the
pipeline a `FetchConfig`, the dispatcher an `AlertsConfig`). Reading them
from `watcher.toml` and the environment is `watcher.config`'s job, and only
its: nothing below the daemon's assembly and the CLI imports that module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from watcher.errors import ConfigError
from watcher.model import SourceSpec

DEFAULT_DATABASE_URL = "sqlite:///data/watcher.db"
DEFAULT_CONFIG_PATH = Path("watcher.toml")


@dataclass(frozen=True)
class FetchConfig:
    """`[fetch]`: how we talk to news sites."""

    allow_private_addresses: bool = False  # true only for tests and intranet sources
    per_host: int = 4  # requests in flight to one host at a time (politeness)
    # Requests in flight at a time over all hosts (feeds and article pages together):
    # the fetcher's connection pool never opens more connections than this.
    concurrency: int = 32
    # Sources polled at the same time; each polls its feed, then its new articles.
    sources_at_once: int = 8
    connect_timeout: float = 10.0  # seconds to establish a connection
    total_timeout: float = 25.0  # seconds for a whole request, body included
    max_feed_bytes: int = 15 * 1024 * 1024  # decompressed cap for feeds and listings
    max_page_bytes: int = 20 * 1000 * 1000  # decompressed cap for article pages
    max_redirects: int = 5
    retries: int = 2  # extra attempts on 5xx and timeouts
    max_articles_per_source: int = 50  # new entries taken from one feed per poll
    user_agent: str = ""  # empty: watcher/<version> with the project URL
    # Private networks sources and articles may use although `allow_private_addresses`
    # is false (an intranet feed), as CIDR strings like "10.1.0.0/16".
    allowed_networks: tuple[str, ...] = ()


ROUTE_MODES = ("instant", "digest")


@dataclass(frozen=True)
class RouteConfig:
    """`[alerts.routes."#channel"]`: how one route (a Slack channel) receives alerts.

    `mode = "instant"` posts one message per story as it comes; `"digest"`
    collects the stories and posts one message per `interval` listing them.
    `interval` is also how long a rule over its alert budget collects its
    alerts on an instant route before they go out as a digest. It defaults to
    `[alerts] budget_window`.
    """

    mode: str = "instant"  # "instant" | "digest"
    interval: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class AlertsConfig:
    """`[alerts]`: where and how alerts go."""

    default_route: tuple[str, ...] = ("#aukus-alerts",)
    budget: int = 20  # alerts per rule per window; past it they go to the next digest
    budget_window: timedelta = timedelta(hours=1)
    # Per-route settings, `[alerts.routes."#chan"]`; a route not listed is instant.
    routes: tuple[tuple[str, RouteConfig], ...] = ()
    # Operator alerts about the feeds themselves (failing or empty sources): where they go,
    # after how many consecutive failed polls a source is "unhealthy", and after how
    # many consecutive successful polls with an empty document it is "empty".
    ops_route: str = "#aukus-alerts"  # in a file: defaults to the first default_route
    unhealthy_after: int = 5
    empty_after: int = 3

    def route(self, channel: str) -> RouteConfig:
        """The settings of `channel`: its own table, else instant with the budget window."""
        for name, settings in self.routes:
            if name == channel:
                return settings
        return RouteConfig(interval=self.budget_window)


@dataclass(frozen=True)
class SlackConfig:
    """Slack delivery settings, from the environment only."""

    bot_token: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    base_url: str | None = None  # slack-sdk's base_url, for proxies and tests
    # An app-level token (`xapp-…`, scope `connections:write`): with a bot token it
    # opens the Socket Mode connection that receives the analysts' button clicks.
    app_token: str | None = field(default=None, repr=False)

    @property
    def mode(self) -> str:
        """`bot` (token wins), `webhook`, or `console` when nothing is set."""
        if self.bot_token:
            return "bot"
        if self.webhook_url:
            return "webhook"
        return "console"

    @property
    def interactive(self) -> bool:
        """Alerts carry feedback buttons: a bot token (to update messages) and an app token."""
        return bool(self.bot_token and self.app_token)


@dataclass(frozen=True)
class Config:
    """Everything watcher needs to run, resolved from file, environment and defaults."""

    path: Path | None = None  # the file it came from, None for the embedded default
    database_url: str = DEFAULT_DATABASE_URL
    rules_dir: Path = Path("rules")
    listen: str = "127.0.0.1:8080"  # /healthz, /metrics and the web console
    fetch: FetchConfig = FetchConfig()
    alerts: AlertsConfig = AlertsConfig()
    slack: SlackConfig = SlackConfig()
    sources: tuple[SourceSpec, ...] = ()
    # `[stories] window`: how long after an article's first sighting a copy may still
    # join its story (see `watcher.pipeline.story_index`); it also bounds the index's memory.
    story_window: timedelta = timedelta(days=7)
    # `WATCHER_SQLITE_BUSY_TIMEOUT_MS`: how long a SQLite connection waits for
    # another writer before "database is locked".
    sqlite_busy_timeout_ms: int = 10_000
    # `WATCHER_WEB_TOKEN`: the console's access token (Bearer or login form); without
    # it the console is served on loopback addresses only (`daemon.console.access`).
    web_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DaemonSettings:
    """The daemon's ticks and limits, in seconds (from `WATCHER_*` variables).

    poll_tick          how often the sources whose next poll has come are polled
    dispatch_tick      how often the alert outbox is drained
    reload_tick        how often the rule and config files are checked for changes
    cycle_timeout      one source's poll is cut after this long (recorded as a `timeout`)
    retention_max_age  article text older than this is pruned
    retention_tick     how often retention runs
    database_wait      at start, how long to retry a database server that does not
                       answer yet (PostgreSQL starting beside the daemon); 0: no retry
    scheduler          "embedded": this process polls every due source itself (APScheduler
                       alone); "shared": the processes on one PostgreSQL share the polls
                       through Procrastinate's queue (`watcher.daemon.cluster`); "auto"
                       (default): shared on PostgreSQL, embedded on SQLite
    stalled_after      shared queue: a process whose heartbeat is older than this is dead,
                       and the polls it had in hand are queued again
    """

    poll_tick: float = 30.0
    dispatch_tick: float = 5.0
    reload_tick: float = 3.0
    cycle_timeout: float = 900.0
    retention_max_age: timedelta = timedelta(days=90)
    retention_tick: float = 86400.0
    database_wait: float = 120.0
    scheduler: str = "auto"
    stalled_after: float = 20.0


def parse_listen(listen: str) -> tuple[str, int]:
    """`"host:port"`, `"[::1]:port"` or `":port"` -> (host, port); raises ConfigError."""
    value = listen.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"web.listen must be host:port, got {listen!r}")
    host = host.strip("[]")
    return host, int(port_text)


_DURATION = re.compile(r"^\s*(\d{1,12})\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# The longest duration any setting takes (intervals, windows, ticks, retention): ten
# years. Past it a value is a typo, and times computed from it (the next poll, a backoff
# of 2**16 intervals) would overflow Python's dates.
MAX_DURATION = timedelta(days=3650)


def parse_duration(value: object, *, where: str = "duration") -> timedelta:
    """`"15m"`, `"1h"`, `"7d"`, `"30s"`, `"2w"` (or a number of seconds) -> timedelta.

    At most `MAX_DURATION`; anything else is a ConfigError naming `where`.
    """
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m and int(m.group(1)) > 0:
            seconds = float(int(m.group(1)) * _UNITS[m.group(2)])
    if seconds is None:  # NaN too: it is not > 0
        raise ConfigError(f"{where}: expected a duration like '15m', '1h' or '7d', got {value!r}")
    if seconds > MAX_DURATION.total_seconds():
        raise ConfigError(f"{where}: at most {MAX_DURATION.days} days, got {value!r}")
    return timedelta(seconds=seconds)
