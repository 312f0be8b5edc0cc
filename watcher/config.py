"""Settings: one place, every default documented, environment overrides.

`load_config(path, environ)` reads `watcher.toml` and returns
a frozen `Config`. Precedence for each setting: command-line flag (applied by
the CLI with `dataclasses.replace`), then environment variable, then the
file, then the default below. Secrets (Slack token, webhook URL) come only
from the environment and never appear in `repr()` or logs.

When no config file exists, the embedded default applies: SQLite under
`./data/`, the rules in `./rules`, no sources, console alerts.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from watcher.errors import ConfigError
from watcher.model import ROUTE_NAME as _ROUTE
from watcher.model import SourceKind, SourceSpec

DEFAULT_DATABASE_URL = "sqlite:///data/watcher.db"
DEFAULT_CONFIG_PATH = Path("watcher.toml")

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, *, where: str = "duration") -> timedelta:
    """`"15m"`, `"1h"`, `"7d"`, `"30s"`, `"2w"` (or a number of seconds) -> timedelta."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration like '15m', got {value!r}")
    if isinstance(value, int | float) and value > 0:
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m and int(m.group(1)) > 0:
            return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    raise ConfigError(f"{where}: expected a duration like '15m', '1h' or '7d', got {value!r}")


@dataclass(frozen=True)
class FetchConfig:
    """`[fetch]`: how we talk to news sites."""

    allow_private_addresses: bool = False  # true only for tests and intranet sources
    per_host: int = 4  # concurrent requests per host
    concurrency: int = 32  # concurrent requests overall
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

    @property
    def mode(self) -> str:
        """`bot` (token wins), `webhook`, or `console` when nothing is set."""
        if self.bot_token:
            return "bot"
        if self.webhook_url:
            return "webhook"
        return "console"


@dataclass(frozen=True)
class Config:
    """Everything watcher needs to run, resolved from file, environment and defaults."""

    path: Path | None = None  # the file it came from, None for the embedded default
    database_url: str = DEFAULT_DATABASE_URL
    rules_dir: Path = Path("rules")
    listen: str = "127.0.0.1:8080"  # /healthz and /metrics
    fetch: FetchConfig = FetchConfig()
    alerts: AlertsConfig = AlertsConfig()
    slack: SlackConfig = SlackConfig()
    sources: tuple[SourceSpec, ...] = ()
    # `[stories] window`: how long after an article's first sighting a copy may still
    # join its story (see `watcher.pipeline.story_index`); it also bounds the index's memory.
    story_window: timedelta = timedelta(days=7)


_TOP_KEYS = {"database", "fetch", "rules", "web", "alerts", "stories", "sources"}
_SOURCE_KEYS = {"name", "url", "kind", "interval", "enabled", "headers", "include", "exclude"}


def load_config(path: Path | None, environ: Mapping[str, str]) -> Config:
    """Read the config file (when it exists) and apply environment overrides.

    `path=None` means "the default location": `WATCHER_CONFIG`, else
    `./watcher.toml`; a missing default file gives the embedded default,
    while a missing file that was asked for explicitly is an error.
    """
    explicit = path is not None or "WATCHER_CONFIG" in environ
    if path is None:
        path = Path(environ.get("WATCHER_CONFIG", str(DEFAULT_CONFIG_PATH)))
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    elif explicit:
        raise ConfigError(f"{path}: config file not found")
    else:
        path = None
    return _build(data, path, environ)


def _build(data: dict[str, Any], path: Path | None, environ: Mapping[str, str]) -> Config:
    where = str(path) if path else "<default>"
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown section(s): {', '.join(sorted(unknown))}")
    database = _table(data, "database", where)
    rules = _table(data, "rules", where)
    web = _table(data, "web", where)
    base_dir = path.parent if path else Path()
    database_url = environ.get("WATCHER_DATABASE_URL") or str(
        database.get("url", DEFAULT_DATABASE_URL)
    )
    rules_dir_value = environ.get("WATCHER_RULES_DIR") or rules.get("dir")
    rules_dir = Path(str(rules_dir_value)) if rules_dir_value else base_dir / "rules"
    if rules_dir_value and "WATCHER_RULES_DIR" not in environ and not rules_dir.is_absolute():
        rules_dir = base_dir / rules_dir
    listen = environ.get("WATCHER_LISTEN") or str(web.get("listen", Config.listen))
    stories = _table(data, "stories", where)
    if set(stories) - {"window"}:
        extra = ", ".join(sorted(set(stories) - {"window"}))
        raise ConfigError(f"{where}: [stories] unknown key(s): {extra}")
    story_window = parse_duration(stories.get("window", "7d"), where=f"{where}: [stories] window")
    return Config(
        path=path,
        database_url=database_url,
        rules_dir=rules_dir,
        listen=listen,
        fetch=_fetch(_table(data, "fetch", where), where),
        alerts=_alerts(_table(data, "alerts", where), where),
        slack=SlackConfig(
            bot_token=environ.get("SLACK_BOT_TOKEN") or None,
            webhook_url=environ.get("SLACK_WEBHOOK_URL") or None,
            base_url=environ.get("WATCHER_SLACK_BASE_URL") or None,
        ),
        sources=_sources(data.get("sources", []), where),
        story_window=story_window,
    )


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _fetch(table: dict[str, Any], where: str) -> FetchConfig:
    defaults = FetchConfig()
    known = set(FetchConfig.__dataclass_fields__)
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{where}: [fetch] unknown key(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key == "allowed_networks":
            values[key] = _networks(raw, where)
            continue
        expected = type(getattr(defaults, key))
        value = raw
        if expected is float and isinstance(raw, int) and not isinstance(raw, bool):
            value = float(raw)
        if type(value) is not expected:
            raise ConfigError(f"{where}: [fetch] {key} must be {expected.__name__}, got {value!r}")
        if expected in (int, float) and (value < 0 or (value == 0 and key != "retries")):
            raise ConfigError(f"{where}: [fetch] {key} must be positive, got {value!r}")
        values[key] = value
    return FetchConfig(**values)


def _networks(raw: object, where: str) -> tuple[str, ...]:
    """`[fetch] allowed_networks`: CIDR strings, each checked (host bits may be set)."""
    if not isinstance(raw, list):
        raise ConfigError(
            f'{where}: [fetch] allowed_networks must be a list like ["10.1.0.0/16"], got {raw!r}'
        )
    for value in raw:
        try:
            if not isinstance(value, str):
                raise TypeError
            ipaddress.ip_network(value.strip(), strict=False)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{where}: [fetch] allowed_networks: {value!r} is not a network "
                "like '10.1.0.0/16' or 'fd00::/8'"
            ) from None
    return tuple(value.strip() for value in raw)


_ALERTS_KEYS = {
    "default_route", "budget", "budget_window", "routes", "ops_route", "unhealthy_after",
    "empty_after",
}  # fmt: skip


def _alerts(table: dict[str, Any], where: str) -> AlertsConfig:
    unknown = set(table) - _ALERTS_KEYS
    if unknown:
        raise ConfigError(f"{where}: [alerts] unknown key(s): {', '.join(sorted(unknown))}")
    route = table.get("default_route", list(AlertsConfig.default_route))
    if isinstance(route, str):
        route = [route]
    if not isinstance(route, list) or not all(isinstance(r, str) and r for r in route):
        raise ConfigError(f"{where}: [alerts] default_route must be a list of channels")
    budget = table.get("budget", AlertsConfig.budget)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise ConfigError(f"{where}: [alerts] budget must be a positive integer, got {budget!r}")
    window = parse_duration(
        table.get("budget_window", "1h"), where=f"{where}: [alerts] budget_window"
    )
    if "ops_route" not in table and not route:
        raise ConfigError(f"{where}: [alerts] ops_route is required when default_route is empty")
    ops_route = table.get("ops_route", route[0] if route else "")
    if not isinstance(ops_route, str) or not _ROUTE.fullmatch(ops_route):
        raise ConfigError(
            f"{where}: [alerts] ops_route must be a channel like '#watcher-ops', got {ops_route!r}"
        )
    return AlertsConfig(
        default_route=tuple(route),
        budget=budget,
        budget_window=window,
        routes=_routes(table.get("routes", {}), window, where),
        ops_route=ops_route,
        unhealthy_after=_count(table, "unhealthy_after", AlertsConfig.unhealthy_after, where),
        empty_after=_count(table, "empty_after", AlertsConfig.empty_after, where),
    )


def _count(table: dict[str, Any], key: str, default: int, where: str) -> int:
    """A positive whole number of polls from `[alerts]`."""
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(
            f"{where}: [alerts] {key} must be a positive number of polls, got {value!r}"
        )
    return value


def _routes(raw: object, window: timedelta, where: str) -> tuple[tuple[str, RouteConfig], ...]:
    """`[alerts.routes."#chan"]` tables -> (channel, RouteConfig) pairs, in file order."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: [alerts.routes] must be tables like [alerts.routes."#chan"]')
    routes: list[tuple[str, RouteConfig]] = []
    for channel, item in raw.items():
        at = f"{where}: [alerts.routes.{channel!r}]"
        if not channel.strip():
            raise ConfigError(f"{at}: the channel name is empty")
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: must be a table with mode and interval")
        unknown = set(item) - {"mode", "interval"}
        if unknown:
            raise ConfigError(f"{at}: unknown key(s): {', '.join(sorted(unknown))}")
        mode = item.get("mode", "instant")
        if mode not in ROUTE_MODES:
            raise ConfigError(f"{at}: mode must be instant or digest, got {mode!r}")
        interval = (
            parse_duration(item["interval"], where=f"{at} interval")
            if "interval" in item
            else window
        )
        routes.append((channel, RouteConfig(mode=mode, interval=interval)))
    return tuple(routes)


def _sources(raw: object, where: str) -> tuple[SourceSpec, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: sources must be an array of tables ([[sources]])")
    specs: list[SourceSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(raw, start=1):
        at = f"{where}: source #{i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: must be a table")
        unknown = set(item) - _SOURCE_KEYS
        if unknown:
            raise ConfigError(f"{at}: unknown key(s): {', '.join(sorted(unknown))}")
        name, url = item.get("name"), item.get("url")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at}: 'name' is required")
        at = f"{where}: source {name!r}"
        if name in seen:
            raise ConfigError(f"{at}: duplicate source name")
        seen.add(name)
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise ConfigError(f"{at}: 'url' must be an http(s) URL, got {url!r}")
        try:
            kind = SourceKind(item.get("kind", "rss"))
        except ValueError:
            raise ConfigError(
                f"{at}: kind must be rss, html or sitemap, got {item.get('kind')!r}"
            ) from None
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{at}: enabled must be true or false, got {enabled!r}")
        headers = _headers(item, at)
        patterns = {key: _patterns(item, key, at) for key in ("include", "exclude")}
        specs.append(
            SourceSpec(
                name=name,
                url=url,
                kind=kind,
                interval=parse_duration(item.get("interval", "15m"), where=f"{at}: interval"),
                enabled=enabled,
                headers=tuple(sorted(headers.items())),
                include=patterns["include"],
                exclude=patterns["exclude"],
            )
        )
    return tuple(specs)


def _headers(item: dict[str, Any], at: str) -> dict[str, str]:
    headers = item.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigError(f"{at}: headers must be a table of strings")
    return headers


def _patterns(item: dict[str, Any], key: str, at: str) -> tuple[str, ...]:
    """A source's include/exclude URL regexes, each compiled once to fail early."""
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ConfigError(f"{at}: {key} must be a list of regular expressions")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{at}: {key} pattern {pattern!r}: {exc}") from None
    return tuple(value)
