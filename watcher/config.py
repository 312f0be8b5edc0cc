"""Reading the settings: `watcher.toml`, the environment, the defaults.

This module is the only place that reads the environment. `load_config`
reads the file (when it exists) and the environment and returns a frozen
`watcher.settings.Config`; `daemon_settings` reads the daemon's ticks;
`config_loader` gives the daemon's hot reload a way to read both again;
`listen_address` tells `watcher health` where the daemon listens.

Precedence for each setting: command-line flag (applied by the CLI with
`dataclasses.replace`), then environment variable, then the file, then the
default in `watcher.settings`. Secrets (Slack token, webhook URL, console token) come only
from the environment and never appear in `repr()` or logs.

When no config file exists, the embedded default applies: SQLite under
`./data/`, the rules in `./rules`, no sources, console alerts.

Environment variables read here (all documented in the README):

    WATCHER_CONFIG                  the config file (else ./watcher.toml)
    WATCHER_DATABASE_URL            overrides [database] url
    WATCHER_RULES_DIR               overrides [rules] dir
    WATCHER_LISTEN                  overrides [web] listen
    WATCHER_SQLITE_BUSY_TIMEOUT_MS  SQLite's wait for another writer
    SLACK_BOT_TOKEN                 Slack bot token (wins over the webhook)
    SLACK_WEBHOOK_URL               Slack incoming webhook
    WATCHER_SLACK_BASE_URL          slack-sdk's base_url (proxies, tests)
    SLACK_APP_TOKEN                 Slack app-level token (Socket Mode: feedback buttons)
    WATCHER_WEB_TOKEN               the web console's access token (a secret)
    WATCHER_POLL_TICK, WATCHER_DISPATCH_TICK, WATCHER_RELOAD_TICK,
    WATCHER_CYCLE_TIMEOUT, WATCHER_RETENTION_MAX_AGE, WATCHER_RETENTION_TICK,
    WATCHER_DATABASE_WAIT           the daemon's ticks and limits (`DaemonSettings`)
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from watcher.errors import ConfigError
from watcher.model import ROUTE_NAME as _ROUTE
from watcher.model import FetchPages, SourceKind, SourceSpec
from watcher.settings import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_DATABASE_URL,
    MAX_DURATION,
    ROUTE_MODES,
    AlertsConfig,
    Config,
    DaemonSettings,
    FetchConfig,
    RouteConfig,
    SlackConfig,
    parse_duration,
    parse_listen,
)

# Every key of `watcher.toml`, by table ("alerts.routes" is each `[alerts.routes."#chan"]`,
# "sources" each `[[sources]]`). The loader refuses any other key; the README documents
# exactly these (a test holds the two together).
FILE_KEYS: dict[str, frozenset[str]] = {
    "database": frozenset({"url"}),
    "rules": frozenset({"dir"}),
    "web": frozenset({"listen"}),
    "fetch": frozenset(FetchConfig.__dataclass_fields__),
    "alerts": frozenset(
        {"default_route", "budget", "budget_window", "routes", "ops_route", "unhealthy_after",
         "empty_after"}
    ),
    "alerts.routes": frozenset({"mode", "interval"}),
    "stories": frozenset({"window"}),
    "sources": frozenset(
        {
            "name",
            "url",
            "kind",
            "interval",
            "enabled",
            "headers",
            "include",
            "exclude",
            "fetch_pages",
        }
    ),
}  # fmt: skip
# Every environment variable watcher reads (all of them here, in this module).
ENV_KEYS = frozenset(
    {
        "WATCHER_CONFIG", "WATCHER_DATABASE_URL", "WATCHER_RULES_DIR", "WATCHER_LISTEN",
        "WATCHER_SQLITE_BUSY_TIMEOUT_MS", "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL",
        "WATCHER_SLACK_BASE_URL", "WATCHER_POLL_TICK", "WATCHER_DISPATCH_TICK",
        "WATCHER_RELOAD_TICK", "WATCHER_CYCLE_TIMEOUT", "WATCHER_RETENTION_MAX_AGE",
        "WATCHER_RETENTION_TICK", "WATCHER_DATABASE_WAIT", "SLACK_APP_TOKEN",
        "WATCHER_SCHEDULER", "WATCHER_STALLED_AFTER",
        "WATCHER_WEB_TOKEN",
    }
)  # fmt: skip
_TOP_KEYS = {"database", "fetch", "rules", "web", "alerts", "stories", "sources"}


class UnknownKey(ConfigError):
    """A key a table does not have; `load_config` adds the key's line and column."""

    def __init__(self, message: str, section: str, key: str, occurrence: int) -> None:
        super().__init__(message)
        self.section = section  # a FILE_KEYS table name, or "" for the top level
        self.key = key
        self.occurrence = occurrence  # which `[[sources]]` table (1-based); 1 for others


def _check_keys(table: Mapping[str, Any], section: str, where: str, *, occurrence: int = 1) -> None:
    """Refuse a key the table does not have, naming the nearest one (a typo is not silent)."""
    known = FILE_KEYS[section]
    for key in sorted(set(table) - known):
        near = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(sorted(known))})"
        raise UnknownKey(
            f"{where}: [{section}] unknown key {key!r}{hint}", section, key, occurrence
        )


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]*?)\s*\]\]?\s*(?:#.*)?$")


def key_position(text: str, section: str, key: str, occurrence: int = 1) -> tuple[int, int] | None:
    """The (line, column) of `key` in table `section` of TOML `text`, 1-based; None if not found.

    tomllib gives no positions, so the lines are scanned: a `[section]`
    header (for "sources" the `occurrence`-th `[[sources]]`, for
    "alerts.routes" any `[alerts.routes."#chan"]`) opens the table, the next
    header closes it, and the key is a bare, quoted or dotted key at the start
    of a line. Section "" is the top level (before any header, or a header
    named `key`). Multi-line strings and inline tables are not followed: a
    key found nowhere gives None and the message goes without a position.
    """
    current, seen = "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header is not None:
            name = header.group(2).replace(" ", "")
            if section == "" and name.split(".")[0].strip('"') == key:
                return number, line.index(header.group(1)) + 1
            current = "alerts.routes" if name.startswith("alerts.routes.") else name
            if current == section == "sources":
                seen += 1
            continue
        if current != section or (section == "sources" and seen != occurrence):
            continue
        stripped = line.lstrip()
        name = re.split(r"\s*[=.]", stripped, maxsplit=1)[0].strip().strip("\"'")
        if name == key and "=" in stripped:
            return number, len(line) - len(stripped) + 1
    return None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the config file (when it exists) and apply environment overrides.

    `path=None` means "the default location": `WATCHER_CONFIG`, else
    `./watcher.toml`; a missing default file gives the embedded default,
    while a missing file that was asked for explicitly is an error.
    """
    environ = os.environ if environ is None else environ
    explicit = path is not None or "WATCHER_CONFIG" in environ
    if path is None:
        path = Path(environ.get("WATCHER_CONFIG", str(DEFAULT_CONFIG_PATH)))
    data: dict[str, Any] = {}
    text = ""
    if path.exists():
        text = read_config_text(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    elif explicit:
        raise ConfigError(f"{path}: config file not found")
    else:
        path = None
    try:
        return _build(data, path, environ)
    except UnknownKey as exc:
        position = key_position(text, exc.section, exc.key, exc.occurrence)
        if path is None or position is None:
            raise
        message = str(exc).removeprefix(f"{path}: ")
        raise ConfigError(f"{path}:{position[0]}:{position[1]}: {message}") from None


def read_config_text(path: Path) -> str:
    """The config file's text; a ConfigError (one line) when it cannot be read or is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None


def _build(data: dict[str, Any], path: Path | None, environ: Mapping[str, str]) -> Config:
    where = str(path) if path else "<default>"
    for key in sorted(set(data) - _TOP_KEYS):
        near = difflib.get_close_matches(key, sorted(_TOP_KEYS), n=1)
        hint = (
            f" (did you mean [{near[0]}]?)" if near else f" (known: {', '.join(sorted(_TOP_KEYS))})"
        )
        raise UnknownKey(f"{where}: unknown section {key!r}{hint}", "", key, 1)
    database = _table(data, "database", where)
    rules = _table(data, "rules", where)
    web = _table(data, "web", where)
    for section, table in (("database", database), ("rules", rules), ("web", web)):
        _check_keys(table, section, where)
    base_dir = path.parent if path else Path()
    database_url = environ.get("WATCHER_DATABASE_URL") or str(
        database.get("url", DEFAULT_DATABASE_URL)
    )
    rules_dir_value = environ.get("WATCHER_RULES_DIR") or rules.get("dir")
    rules_dir = Path(str(rules_dir_value)) if rules_dir_value else base_dir / "rules"
    if rules_dir_value and "WATCHER_RULES_DIR" not in environ and not rules_dir.is_absolute():
        rules_dir = base_dir / rules_dir
    listen = environ.get("WATCHER_LISTEN") or web.get("listen", Config.listen)
    if not isinstance(listen, str):
        raise ConfigError(f"{where}: [web] listen must be a string like '127.0.0.1:8080'")
    try:
        parse_listen(listen)
    except ConfigError:
        source = "WATCHER_LISTEN" if environ.get("WATCHER_LISTEN") else f"{where}: [web] listen"
        raise ConfigError(
            f"{source} must be host:port with a port from 1 to 65535, got {listen!r}"
        ) from None
    stories = _table(data, "stories", where)
    _check_keys(stories, "stories", where)
    story_window = parse_duration(stories.get("window", "7d"), where=f"{where}: [stories] window")
    return Config(
        path=path,
        database_url=database_url,
        rules_dir=rules_dir,
        listen=listen,
        fetch=_fetch(_table(data, "fetch", where), where),
        alerts=_alerts(_table(data, "alerts", where), where),
        slack=SlackConfig(  # blank values count as unset
            bot_token=environ.get("SLACK_BOT_TOKEN", "").strip() or None,
            webhook_url=environ.get("SLACK_WEBHOOK_URL", "").strip() or None,
            base_url=environ.get("WATCHER_SLACK_BASE_URL", "").strip() or None,
            app_token=_app_token(environ),
        ),
        sqlite_busy_timeout_ms=_busy_timeout(environ),
        web_token=environ.get("WATCHER_WEB_TOKEN", "").strip() or None,
        sources=_sources(data.get("sources", []), where),
        story_window=story_window,
    )


def _app_token(environ: Mapping[str, str]) -> str | None:
    """`SLACK_APP_TOKEN`: an app-level token (`xapp-…`); another kind is a configuration error."""
    token = environ.get("SLACK_APP_TOKEN", "").strip()
    if not token:
        return None
    if not token.startswith("xapp-"):  # the value itself is never echoed
        raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    return token


def _busy_timeout(environ: Mapping[str, str]) -> int:
    name = "WATCHER_SQLITE_BUSY_TIMEOUT_MS"
    raw = environ.get(name, "").strip()
    if not raw:
        return Config.sqlite_busy_timeout_ms
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigError(f"{name}: expected a positive number of ms, got {raw!r}")
    return int(raw)


def daemon_settings(environ: Mapping[str, str] | None = None) -> DaemonSettings:
    """The daemon's ticks from `WATCHER_*_TICK` and friends; ConfigError on a bad value.

    Each is seconds (`30`) or a duration (`5m`); unset or blank keeps the default.
    """
    environ = os.environ if environ is None else environ

    def seconds(name: str, default: float) -> float:
        return _env_seconds(environ, name, default)

    age = environ.get("WATCHER_RETENTION_MAX_AGE", "").strip()
    default = DaemonSettings()
    return DaemonSettings(
        poll_tick=seconds("WATCHER_POLL_TICK", default.poll_tick),
        dispatch_tick=seconds("WATCHER_DISPATCH_TICK", default.dispatch_tick),
        reload_tick=seconds("WATCHER_RELOAD_TICK", default.reload_tick),
        cycle_timeout=seconds("WATCHER_CYCLE_TIMEOUT", default.cycle_timeout),
        retention_max_age=(
            parse_duration(age, where="WATCHER_RETENTION_MAX_AGE")
            if age
            else default.retention_max_age
        ),
        retention_tick=seconds("WATCHER_RETENTION_TICK", default.retention_tick),
        database_wait=_database_wait(environ, default.database_wait),
        scheduler=_scheduler(environ.get("WATCHER_SCHEDULER", "").strip() or default.scheduler),
        stalled_after=seconds("WATCHER_STALLED_AFTER", default.stalled_after),
    )


def _database_wait(environ: Mapping[str, str], default: float) -> float:
    """`WATCHER_DATABASE_WAIT`: seconds (or a duration) to retry the first connection; 0 off."""
    return _env_seconds(environ, "WATCHER_DATABASE_WAIT", default, zero_allowed=True)


def _env_seconds(
    environ: Mapping[str, str], name: str, default: float, *, zero_allowed: bool = False
) -> float:
    """Seconds (`30`) or a duration (`5m`) from the variable `name`; unset or blank: `default`.

    ConfigError for anything else, for a negative value (or zero, unless
    `zero_allowed`) and for more than `MAX_DURATION`.
    """
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return parse_duration(raw, where=name).total_seconds()
    if not (value >= 0 if zero_allowed else value > 0):
        wanted = (
            "a number of seconds (0 or more)" if zero_allowed else "a positive number of seconds"
        )
        raise ConfigError(f"{name}: expected {wanted}, got {raw!r}")
    if value > MAX_DURATION.total_seconds():
        raise ConfigError(f"{name}: at most {MAX_DURATION.days} days, got {raw!r}")
    return value


SCHEDULERS = ("auto", "embedded", "shared")


def _scheduler(value: str) -> str:
    """`WATCHER_SCHEDULER`: one of `SCHEDULERS`; ConfigError otherwise."""
    if value not in SCHEDULERS:
        known = ", ".join(SCHEDULERS)
        raise ConfigError(f"WATCHER_SCHEDULER: expected one of {known}, got {value!r}")
    return value


def config_loader(
    config: Config, environ: Mapping[str, str] | None = None
) -> Callable[[], Config] | None:
    """How the daemon re-reads its config on a change: the same file, the environment
    again, and a `--rules` flag's directory kept. None when there is no file to watch.
    """
    path = config.path
    if path is None:
        return None
    try:
        from_file: Path | None = load_config(path, environ).rules_dir
    except ConfigError:
        from_file = None
    cli_rules = config.rules_dir if from_file != config.rules_dir else None

    def load() -> Config:
        fresh = load_config(path, environ)
        return fresh if cli_rules is None else replace(fresh, rules_dir=cli_rules)

    return load


def listen_address(path: Path | None, environ: Mapping[str, str] | None = None) -> str:
    """Where the daemon serves `/healthz`: `WATCHER_LISTEN`, else the config's `web.listen`.

    Read leniently: the daemon keeps running on its last good config when
    the file is edited into an invalid state, so a health check must not
    start failing (and get the container restarted into a broken config)
    because of an unrelated mistake elsewhere in the file.
    """
    environ = os.environ if environ is None else environ
    if environ.get("WATCHER_LISTEN"):
        return environ["WATCHER_LISTEN"]
    try:
        return load_config(path, environ).listen
    except ConfigError:
        pass
    where = path or Path(environ.get("WATCHER_CONFIG", str(DEFAULT_CONFIG_PATH)))
    try:
        web = tomllib.loads(where.read_text(encoding="utf-8")).get("web", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        web = {}
    listen = web.get("listen") if isinstance(web, dict) else None
    return listen if isinstance(listen, str) else Config.listen


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _fetch(table: dict[str, Any], where: str) -> FetchConfig:
    defaults = FetchConfig()
    _check_keys(table, "fetch", where)
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
        if expected is float and not value <= _MAX_FETCH_SECONDS:  # NaN and inf too
            raise ConfigError(
                f"{where}: [fetch] {key} must be at most {_MAX_FETCH_SECONDS:g} s, got {value!r}"
            )
        if expected is int and value > _MAX_FETCH_INT:
            raise ConfigError(
                f"{where}: [fetch] {key} must be at most {_MAX_FETCH_INT}, got {value!r}"
            )
        values[key] = value
    return FetchConfig(**values)


_MAX_FETCH_SECONDS = 86400.0  # a day: [fetch] timeouts past it are typos
_MAX_FETCH_INT = 2**40  # counts and byte caps: far past any real value, still a C long


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


def _alerts(table: dict[str, Any], where: str) -> AlertsConfig:
    _check_keys(table, "alerts", where)
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
        _check_keys(item, "alerts.routes", at)
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
        _check_keys(item, "sources", at, occurrence=i)
        name, url = item.get("name"), item.get("url")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at}: 'name' is required")
        at = f"{where}: source {name!r}"
        if name in seen:
            raise ConfigError(f"{at}: duplicate source name")
        seen.add(name)
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise ConfigError(f"{at}: 'url' must be an http(s) URL, got {url!r}")
        kind = _choice(SourceKind, item, "kind", SourceKind.RSS, at)
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{at}: enabled must be true or false, got {enabled!r}")
        headers = _headers(item, at)
        patterns = {key: _patterns(item, key, at) for key in ("include", "exclude")}
        fetch_pages = _choice(FetchPages, item, "fetch_pages", FetchPages.AUTO, at)
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
                fetch_pages=fetch_pages,
            )
        )
    return tuple(specs)


_E = TypeVar("_E", bound=enum.StrEnum)


def _choice(kind: type[_E], item: dict[str, Any], key: str, default: _E, at: str) -> _E:
    """`item[key]` as one of `kind`'s values (`default` when absent); else a ConfigError."""
    try:
        return kind(item.get(key, default))
    except ValueError:
        allowed = [str(v) for v in kind]
        names = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
        raise ConfigError(f"{at}: {key} must be {names}, got {item.get(key)!r}") from None


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
