"""Rendering results for people (rich tables) and machines (JSON).

On a terminal commands print readable tables; piped or with `--json` they
print JSON free of decoration. Timestamps in JSON are ISO 8601 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from watcher.alerts.delivery import DeliveryOutcome, classify_error
from watcher.daemon.app import OnceResult
from watcher.log import redact_secrets
from watcher.store.queries import HitView, OutboxSummary
from watcher.store.sources import SourceStatus


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def once_summary(console: Console, result: OnceResult) -> None:
    """The one-screen summary at the end of `watcher run --once` on a terminal."""
    cycle = result.cycle
    table = Table(title="watcher: one cycle", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("sources polled", str(cycle.polled))
    table.add_row("sources failed", str(len(cycle.failed)))
    table.add_row("articles new", str(cycle.articles_new))
    hits = cycle.hits_per_rule
    table.add_row("hits", ", ".join(f"{k}: {v}" for k, v in sorted(hits.items())) or "0")
    table.add_row("alerts created", str(cycle.alerts_created))
    table.add_row("alerts sent", str(cycle.alerts_sent))
    if cycle.alerts_failed:
        table.add_row("alerts failed", str(cycle.alerts_failed))
    if cycle.alerts_pending:
        table.add_row("alerts pending", str(cycle.alerts_pending))
    if result.dispatch.auth_error:
        table.add_row("delivery stopped", f"[red]{result.dispatch.auth_error}[/red]")
    console.print(table)
    for failed in cycle.failed[:10]:
        error = redact_secrets(failed.error or "")
        console.print(f"  [yellow]failed[/yellow] {failed.name}: {failed.outcome} {error}")


def once_json(result: OnceResult) -> dict[str, Any]:
    """The same summary as one JSON object."""
    cycle = result.cycle
    return {
        "event": "cycle_done",
        "sources_polled": cycle.polled,
        "sources_failed": len(cycle.failed),
        "articles_new": cycle.articles_new,
        "hits_per_rule": cycle.hits_per_rule,
        "alerts_created": cycle.alerts_created,
        "alerts_sent": cycle.alerts_sent,
        "alerts_failed": cycle.alerts_failed,
        "alerts_pending": cycle.alerts_pending,
        "delivery_stopped": redact_secrets(result.dispatch.auth_error or "") or None,
    }


def source_json(s: SourceStatus) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "url": redact_secrets(s.url),
        "kind": s.kind,
        "status": s.status,
        "failures": s.failures,
        "last_outcome": s.last_outcome,
        "last_error": redact_secrets(s.last_error) if s.last_error else s.last_error,
        "last_poll": iso(s.last_poll),
        "polled_by": s.polled_by,  # the daemon process (host:pid) that polled it last
        "next_poll": iso(s.next_poll),
        "articles": s.articles,
        "partial": s.partial,  # of those, articles whose text may be cut
        # ops alerts raised for the current streaks ("unhealthy", "empty"), and the streaks
        "ops_alerts": list(s.ops_alerts),
        "failing_since": iso(s.failing_since),
        "empty_polls": s.empty_polls,
        "empty_since": iso(s.empty_since),
    }


def sources_table(console: Console, statuses: list[SourceStatus]) -> None:
    table = Table(title=f"{len(statuses)} sources")
    for col in (
        "name",
        "kind",
        "status",
        "failures",
        "last poll",
        "polled by",
        "next poll",
        "articles",
        "ops alert",
        "last error",
    ):
        table.add_column(col)
    colours = {"ok": "green", "failing": "yellow", "backing_off": "red", "disabled": "dim"}
    for s in statuses:
        colour = colours.get(s.status, "white")
        table.add_row(
            s.name,
            s.kind,
            f"[{colour}]{s.status}[/{colour}]",
            str(s.failures),
            _short(s.last_poll),
            s.polled_by or "",
            _short(s.next_poll),
            f"{s.articles} ([yellow]{s.partial} partial[/yellow])"
            if s.partial
            else str(s.articles),
            _ops_cell(s),
            redact_secrets(s.last_error or "")[:60],
        )
    console.print(table)


def _ops_cell(s: SourceStatus) -> str:
    """The raised ops alerts with their streaks: 'unhealthy since 11-20 10:00', 'empty, 3 polls'."""
    parts = []
    if "unhealthy" in s.ops_alerts:
        parts.append(f"[red]unhealthy[/red] since {_short(s.failing_since)}")
    if "empty" in s.ops_alerts:
        parts.append(
            f"[yellow]empty[/yellow], {s.empty_polls} polls, since {_short(s.empty_since)}"
        )
    return ", ".join(parts) or "-"


def hit_json(h: HitView) -> dict[str, Any]:
    return {
        "id": h.id,
        "rule": h.rule_id,
        "severity": h.severity,
        "score": h.score,
        "url": h.url,
        "title": h.title,
        "outlet": h.outlet,
        "story": h.story_id,
        "article": h.article_id,
        "created_at": iso(h.created_at),
        "published_at": iso(h.published_at),
        "snippet": h.snippet,
        "extraction": h.extraction,  # "partial": the article's text may be cut
    }


def hits_table(console: Console, hits: list[HitView]) -> None:
    table = Table(title=f"{len(hits)} hits")
    for col in ("when", "rule", "sev", "title", "outlet", "story"):
        table.add_column(col)
    for h in hits:
        table.add_row(
            _short(h.created_at),
            h.rule_id,
            h.severity,
            f"[link={h.url}]{h.title[:80]}[/link]"
            + (" [yellow](partial text)[/yellow]" if h.extraction == "partial" else ""),
            h.outlet,
            str(h.story_id),
        )
    console.print(table)


def print_json_lines(stream: TextIO, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        stream.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _short(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def delivery_notice(outbox: OutboxSummary) -> str:
    """One line on alert delivery; says "stopped" when pending alerts failed on auth."""
    pending = outbox.counts.get("pending", 0)
    auth = [e for e in outbox.pending_errors if classify_error(e) is DeliveryOutcome.STOP_AUTH]
    parts = [f"{outbox.counts.get(k, 0)} {k}" for k in ("sent", "pending", "failed", "dead")]
    if auth and pending:
        return (
            f"alert delivery stopped: {auth[0]} ({pending} alerts kept pending); "
            "fix the Slack token, then send SIGHUP or restart"
        )
    return "alerts: " + ", ".join(parts)
