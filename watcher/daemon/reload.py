"""Hot reload: rules and config are re-read when their files change.

The daemon checks cheap stamps (names, mtimes, sizes) every reload tick and
on SIGHUP. A new version is swapped in whole or not at all: an invalid rule
file is rejected with its `file:line:col` problems, an invalid config with
its error, and the last good version keeps running. What changed is logged
(rule ids added/removed/changed; sources added/removed/changed).

Config changes apply at the next poll tick (the pipeline reads
`config.sources` and `config.fetch` each cycle; the dispatcher reads its
`alerts` settings on each pass). The database URL, the
listen address and the Slack settings are bound into open connections and
clients: a change to them is logged as needing a restart and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from watcher.daemon.app import App
from watcher.daemon.health import off_loop
from watcher.errors import ConfigError, RuleError
from watcher.metrics import METRICS
from watcher.settings import Config

log = structlog.get_logger("watcher.daemon.reload")

Stamp = tuple[tuple[str, int, int], ...]


def rules_stamp(rules_dir: Path) -> Stamp:
    """A cheap change detector: names, mtimes (ns) and sizes of the rule files
    and of the term sets in `terms/` beside them (a set edit changes rules)."""
    try:
        files = sorted(p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml"))
        terms = rules_dir / "terms"
        if terms.is_dir():
            files += sorted(p for p in terms.iterdir() if p.suffix in (".yaml", ".yml"))
        return tuple(
            (str(f.relative_to(rules_dir)), f.stat().st_mtime_ns, f.stat().st_size) for f in files
        )
    except OSError:
        return ()


def file_stamp(path: Path | None) -> Stamp:
    """The same for one file (empty when it is missing)."""
    if path is None:
        return ()
    try:
        st = path.stat()
    except OSError:
        return ()
    return ((path.name, st.st_mtime_ns, st.st_size),)


@dataclass(frozen=True)
class ConfigChanges:
    """What a config reload changed."""

    sources_added: tuple[str, ...]
    sources_removed: tuple[str, ...]
    sources_changed: tuple[str, ...]
    rules_changed: bool  # rules dir or default route: the rules are rebuilt
    other: tuple[str, ...]  # other settings that took effect (fetch, alerts)
    restart_needed: tuple[str, ...]  # settings that only a restart applies

    @property
    def any(self) -> bool:
        return bool(
            self.sources_added
            or self.sources_removed
            or self.sources_changed
            or self.rules_changed
            or self.other
            or self.restart_needed
        )


def diff_config(old: Config, new: Config) -> ConfigChanges:
    """Compare two configs the way a hot reload applies them."""
    before = {s.name: s for s in old.sources}
    after = {s.name: s for s in new.sources}
    return ConfigChanges(
        sources_added=tuple(sorted(set(after) - set(before))),
        sources_removed=tuple(sorted(set(before) - set(after))),
        sources_changed=tuple(sorted(n for n in set(after) & set(before) if after[n] != before[n])),
        rules_changed=(old.rules_dir, old.alerts.default_route)
        != (new.rules_dir, new.alerts.default_route),
        other=tuple(k for k in ("fetch", "alerts") if getattr(old, k) != getattr(new, k)),
        restart_needed=tuple(
            k for k in ("database_url", "listen", "slack") if getattr(old, k) != getattr(new, k)
        ),
    )


class Reloader:
    """Watches the rules directory and the config file of one running `App`."""

    def __init__(self, app: App, load: Callable[[], Config] | None = None) -> None:
        self.app = app
        path = app.config.path
        # None: the config file is not watched (no file, or a caller without a loader).
        self._load = load if path is not None else None
        self._rules_stamp = rules_stamp(app.config.rules_dir)
        self._config_stamp = file_stamp(app.config.path)
        METRICS.rules_loaded.set(len(app.rules.current().rules))

    async def reload(self, *, force: bool = False) -> None:
        """Reload the rules and the config when their files changed (or when forced)."""
        await self.reload_rules(force=force)
        await self.reload_config(force=force)

    async def reload_rules(self, *, force: bool = False) -> bool:
        """Swap in the rules directory's new version; False when it was rejected."""
        stamp = rules_stamp(self.app.rules.rules_dir)
        if stamp == self._rules_stamp and not force:
            return True
        self._rules_stamp = stamp
        try:
            changes = await off_loop(self.app.rules.reload)
        except RuleError as exc:
            METRICS.reloads.labels("rules", "rejected").inc()
            for problem in exc.problems:
                log.error(
                    "rules_rejected", problem=str(problem), detail="keeping the last good rules"
                )
            return False
        METRICS.reloads.labels("rules", "ok").inc()
        METRICS.rules_loaded.set(len(self.app.rules.current().rules))
        log.info(
            "rules_reloaded",
            added=list(changes.added),
            removed=list(changes.removed),
            changed=list(changes.changed),
            rules=len(self.app.rules.current().rules),
        )
        return True

    async def reload_config(self, *, force: bool = False) -> bool:
        """Re-read the config file; sources and fetch/alert settings apply at the next tick."""
        old = self.app.config
        stamp = file_stamp(old.path)
        if self._load is None or (stamp == self._config_stamp and not force):
            return True
        self._config_stamp = stamp
        try:
            new = self._load()
        except ConfigError as exc:
            METRICS.reloads.labels("config", "rejected").inc()
            log.error("config_rejected", error=str(exc), detail="keeping the running config")
            return False
        changes = diff_config(old, new)
        # These are bound into open connections and clients: a restart applies them.
        new = replace(new, database_url=old.database_url, listen=old.listen, slack=old.slack)
        if changes.rules_changed and not await self._switch_rules(old, new):
            METRICS.reloads.labels("config", "rejected").inc()
            return False
        self.app.config = new
        self.app.pipeline.config = new
        self.app.dispatcher.alerts = new.alerts  # budgets and digest routes
        METRICS.reloads.labels("config", "ok").inc()
        log.info(
            "config_reloaded",
            sources_added=list(changes.sources_added),
            sources_removed=list(changes.sources_removed),
            sources_changed=list(changes.sources_changed),
            rules_changed=changes.rules_changed,
            other=list(changes.other),
            sources=len(new.sources),
        )
        if changes.restart_needed:
            log.warning(
                "config_restart_needed",
                settings=list(changes.restart_needed),
                detail="these settings keep their old values until a restart",
            )
        return True

    async def _switch_rules(self, old: Config, new: Config) -> bool:
        """Point the rules at the new directory/default route; undo it if they are invalid."""
        rules = self.app.rules
        rules.rules_dir, rules.default_route = new.rules_dir, tuple(new.alerts.default_route)
        try:
            changes = await off_loop(rules.reload)
        except RuleError as exc:
            rules.rules_dir, rules.default_route = old.rules_dir, tuple(old.alerts.default_route)
            for problem in exc.problems:
                log.error(
                    "config_rejected",
                    error=str(problem),
                    detail="the new rules directory is invalid; keeping the running config",
                )
            return False
        self._rules_stamp = rules_stamp(new.rules_dir)
        METRICS.rules_loaded.set(len(rules.current().rules))
        log.info(
            "rules_reloaded",
            added=list(changes.added),
            removed=list(changes.removed),
            changed=list(changes.changed),
            rules=len(rules.current().rules),
        )
        return True
