"""The daemon's HTTP server: `/healthz`, `/metrics` and the web console, on `config.listen`.

It runs in the daemon's event loop (aiohttp). `/healthz` answers 200
`{"status": "ok", ...}` or 503 `{"status": "unhealthy", "reason": ...}`;
`/metrics` is the Prometheus text format of `watcher.metrics` (see that
module for what each metric means). The console's pages
(`watcher.daemon.console`) are mounted when `create_web_app` is given its
dependencies; `/healthz` and `/metrics` stay open either way.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from watcher.daemon.console.pages import ConsoleDeps
from watcher.daemon.health import HealthReport, off_loop
from watcher.errors import ConfigError
from watcher.log import redact_secrets
from watcher.metrics import Metrics
from watcher.settings import parse_listen

HealthCheck = Callable[[], Awaitable[HealthReport]]
METRICS_TIMEOUT = 10.0  # seconds; the scrape reads gauges from the database


def create_web_app(
    health: HealthCheck, metrics: Metrics, console: ConsoleDeps | None = None
) -> web.Application:
    """The aiohttp application serving `/healthz`, `/metrics` and, given `console`, the console."""

    async def healthz(_request: web.Request) -> web.Response:
        report = await health()
        return web.Response(
            status=200 if report.ok else 503,
            # Reasons quote database and Slack errors: never a credential in the answer.
            text=redact_secrets(json.dumps(report.as_json(), ensure_ascii=False, default=str)),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_page(_request: web.Request) -> web.Response:
        try:
            body = await off_loop(
                lambda: generate_latest(metrics.registry), timeout=METRICS_TIMEOUT
            )
        except TimeoutError:
            return web.Response(status=503, text="metrics: the database did not answer\n")
        # aiohttp's content_type= refuses parameters; Prometheus wants its version one.
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    if console is not None:
        from watcher.daemon.console.pages import add_console

        add_console(app, console)
    return app


async def start_web(app: web.Application, listen: str) -> web.AppRunner:
    """Serve `app` on `listen` (host:port); raises ConfigError when it cannot bind."""
    host, port = parse_listen(listen)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host or None, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ConfigError(f"web.listen {listen}: cannot listen: {why}") from None
    return runner
