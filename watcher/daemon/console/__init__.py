"""The web console: server-rendered pages for analysts and the operator.

Served by the daemon beside `/healthz` and `/metrics` (`daemon.web`):
`/` (recent stories with hits, a chart of hits per rule per day),
`/stories/ID`, `/sources`, `/rules`, `/rules/ID`, `/rules/preview` (a query
against the stored history, with the backtest's diff for a rule edit) and
`/search`. Read-only: no page changes state. Who may see it: `access`.

Modules: `pages` (handlers, templates), `access` (token, session cookie,
when the console is off), `chart` (the SVG chart), `highlight` (`<mark>`),
`redact` (secrets out of errors and URLs); `templates/` and `static/` are
package data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from watcher.daemon.app import App
from watcher.daemon.console.access import console_refusal
from watcher.daemon.console.pages import ConsoleDeps, Precision, add_console
from watcher.store.db import Database
from watcher.store.judgments import rule_stats

PRECISION_WINDOW = timedelta(days=30)  # the judgments a rule's precision is computed over

__all__ = ["ConsoleDeps", "add_console", "console_deps", "console_refusal"]


def console_deps(app: App) -> ConsoleDeps:
    """What the console of the daemon `app` reads, and the secrets it must never show."""
    config = app.config
    header_values = tuple(value for s in config.sources for _name, value in s.headers)
    secrets = tuple(
        s for s in (config.slack.bot_token, config.slack.webhook_url, config.web_token) if s
    )
    return ConsoleDeps(
        db=app.db,
        rules=app.rules.current,
        rules_dir=config.rules_dir,
        token=config.web_token,
        secrets=secrets + header_values,
        # Analysts judge alerts only where the feedback buttons are on.
        precision=judged_precision(app.db) if config.slack.interactive else None,
    )


def judged_precision(
    db: Database, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Precision:
    """A rule's precision from the analysts' judgments of its last 30 days of alerts
    (None when none were judged), as `watcher rules stats` computes it."""

    def precision(rule_id: str) -> float | None:
        now = clock()
        with db.session() as session:
            stats = rule_stats(session, since=now - PRECISION_WINDOW, now=now)
        return next((s.precision for s in stats if s.rule_id == rule_id), None)

    return precision
