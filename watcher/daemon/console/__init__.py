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

from watcher.daemon.app import App
from watcher.daemon.console.access import console_refusal
from watcher.daemon.console.pages import ConsoleDeps, add_console

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
    )
