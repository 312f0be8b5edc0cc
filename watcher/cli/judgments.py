"""The analysts' judgments on the command line.

    watcher rules stats     per rule: alerts, relevant, not relevant, precision, trend
    watcher feedback        the judgments, newest first
    watcher feedback export DIR
                            judged articles as a labelled corpus for `watcher rules test --corpus`
    watcher sources mute NAME / unmute NAME
                            hold a source's alerts for the digest (or post them again)

The corpus format is `watcher.rules.corpus`'s: `DIR/docs/ID.txt` in the
plain-text document format (`Title:`, `URL:`, `Published:`, `Outlet:`
header, then the stored text) and `DIR/labels.json`. Per article and rule
the verdicts of every analyst on every alert of the article are counted:
more "relevant" than "not relevant" makes the rule one of the document's
`topics`; a tie puts it in `borderline_topics` (left out of that rule's
scores); otherwise the document is a negative for the rule. Articles whose
text retention has pruned keep their summary as text; with neither they
are left out (and counted).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from watcher.cli.common import config_option, fail, get_config, handle_errors, since_cutoff

if TYPE_CHECKING:
    from watcher.store.db import Database
    from watcher.store.judgments import JudgedArticle, JudgmentView, RuleStats

DEFAULT_STATS_SINCE = "30d"


@contextmanager
def _database(config_path: Path | None) -> Iterator[Database]:
    from watcher.store.db import open_database

    config = get_config(config_path)
    db = open_database(config.database_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)
    try:
        yield db
    finally:
        db.dispose()


def _json_or_table(as_json: bool) -> bool:
    return as_json or not sys.stdout.isatty()


# --- watcher rules stats ------------------------------------------------------------------


@click.command("stats")
@click.option(
    "--since",
    default=DEFAULT_STATS_SINCE,
    show_default=True,
    help="Instant alerts posted within this age, e.g. 7d.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array of rules.")
@config_option
@handle_errors
def rules_stats(since: str, as_json: bool, config_path: Path | None) -> None:
    """Per rule: alerts, judged relevant / not relevant, precision and its trend.

    Precision is relevant / (relevant + not relevant) over the analysts'
    judgments (one per analyst and alert), null without judgments. The trend
    is the second half of the period's precision minus the first half's.

    \b
    Example:
      watcher rules stats --since 30d --json
    """
    from watcher.store.judgments import rule_stats

    cutoff = since_cutoff(since)
    with _database(config_path) as db, db.session() as session:
        stats = rule_stats(session, since=cutoff, now=datetime.now(UTC))
    if _json_or_table(as_json):
        click.echo(json.dumps([s.to_dict() for s in stats], ensure_ascii=False))
        return
    _stats_table(stats, since)


def _stats_table(stats: list[RuleStats], since: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"analyst judgments of instant alerts, last {since}")
    for col in ("rule", "alerts", "judged", "relevant", "not relevant", "precision", "trend"):
        table.add_column(col)
    for s in stats:
        trend = "-"
        if s.trend is not None:
            arrow = "↑" if s.trend > 0.005 else "↓" if s.trend < -0.005 else "→"
            trend = f"{arrow} {s.trend:+.2f}"
        table.add_row(
            s.rule_id,
            str(s.alerts),
            str(s.judged),
            str(s.relevant),
            str(s.not_relevant),
            "-" if s.precision is None else f"{s.precision:.2f}",
            trend,
        )
    Console().print(table)


# --- watcher feedback [export] ------------------------------------------------------------


@click.group(invoke_without_command=True)
@click.option("--rule", help="Only judgments of alerts for this rule id.")
@click.option("--since", help="Only judgments given within this age, e.g. 7d.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@config_option
@click.pass_context
@handle_errors
def feedback(
    ctx: click.Context,
    rule: str | None,
    since: str | None,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """The analysts' judgments of alerts, newest first (`export` writes them as a corpus).

    \b
    Example:
      watcher feedback --rule pillar2-japan --since 7d
      watcher feedback export judged-corpus/
    """
    if ctx.invoked_subcommand is not None:
        return
    from watcher.store.judgments import list_judgments

    cutoff = since_cutoff(since)
    with _database(config_path) as db, db.session() as session:
        rows = list_judgments(session, rule=rule, since=cutoff)
    if _json_or_table(as_json):
        for row in rows:
            click.echo(json.dumps(_judgment_json(row), ensure_ascii=False))
        return
    _judgments_table(rows)


def _judgment_json(j: JudgmentView) -> dict[str, Any]:
    return {
        "alert": j.alert_id,
        "analyst": j.analyst_name,
        "analyst_id": j.analyst_id,
        "verdict": j.verdict.value,
        "judged_at": j.judged_at.isoformat(),
        "rules": list(j.rules),
        "title": j.title,
        "url": j.url,
        "route": j.route,
    }


def _judgments_table(rows: list[JudgmentView]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} judgments")
    for col in ("judged", "analyst", "verdict", "rules", "title"):
        table.add_column(col)
    for j in rows:
        table.add_row(
            j.judged_at.strftime("%Y-%m-%d %H:%M"),
            f"@{j.analyst_name}",
            j.verdict.value.replace("_", " "),
            ", ".join(j.rules),
            j.title[:70],
        )
    Console().print(table)


@feedback.command("export")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@config_option
@handle_errors
def feedback_export(directory: Path, config_path: Path | None) -> None:
    """Write the judged articles as a labelled corpus (docs/ID.txt and labels.json).

    `watcher rules test --corpus DIR` then scores the rules on what the
    analysts said. Existing files of the same ids are replaced.

    \b
    Example:
      watcher feedback export judged/ && watcher rules test --corpus judged/
    """
    from watcher.store.judgments import judged_articles

    with _database(config_path) as db, db.session() as session:
        articles = judged_articles(session)
    written, skipped = write_corpus(directory, articles)
    click.echo(
        f"{written} judged {_plural(written, 'article')} written to {directory}"
        + (f"; {skipped} left out (text pruned, no summary)" if skipped else "")
    )


def write_corpus(directory: Path, articles: list[JudgedArticle]) -> tuple[int, int]:
    """Write `articles` in the corpus format; (documents written, articles left out)."""
    from watcher.model import Verdict

    docs = directory / "docs"
    try:
        docs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{directory}: cannot create: {exc.strerror}")
    labels: dict[str, dict[str, list[str]]] = {}
    skipped = 0
    for art in articles:
        text = (art.text or art.summary or "").strip()
        if not text:
            skipped += 1
            continue
        doc_id = f"article-{art.article_id}"
        header = [
            f"Title: {_one_line(art.title)}",
            f"URL: {_one_line(art.url)}",
            f"Published: {art.published.isoformat() if art.published else ''}",
            f"Outlet: {_one_line(art.outlet)}",
        ]
        (docs / f"{doc_id}.txt").write_text("\n".join(header) + "\n\n" + text + "\n", "utf-8")
        topics, borderline = [], []
        for rule, verdicts in sorted(art.verdicts.items()):
            good = sum(v is Verdict.RELEVANT for v in verdicts)
            bad = len(verdicts) - good
            if good > bad:
                topics.append(rule)
            elif good == bad:
                borderline.append(rule)
        label = {"topics": topics}
        if borderline:
            label["borderline_topics"] = borderline
        labels[doc_id] = label
    (directory / "labels.json").write_text(
        json.dumps(labels, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8"
    )
    return len(labels), skipped


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


# --- watcher sources mute / unmute ----------------------------------------------------------


@click.command("mute")
@click.argument("name", metavar="NAME")
@config_option
@handle_errors
def sources_mute(name: str, config_path: Path | None) -> None:
    """Hold a source's new alerts for their channel's digest instead of posting them.

    For a source whose alerts the analysts keep judging not relevant
    (`watcher sources` shows the streak). Polling and matching go on; the
    hits are stored and listed in the digest.

    \b
    Example:
      watcher sources mute "Example Gazette"
    """
    from watcher.store.judgments import mute_source
    from watcher.store.sources import sync_sources

    config = get_config(config_path)
    with _database(config_path) as db:
        with db.session() as session:
            sync_sources(session, config.sources, datetime.now(UTC))
        with db.session() as session:
            found = mute_source(session, name, by="operator", now=datetime.now(UTC))
    if not found:
        fail(f"no source named {name!r} (see `watcher sources`)")
    click.echo(f"muted {name}: its alerts go to the digest")


@click.command("unmute")
@click.argument("name", metavar="NAME")
@config_option
@handle_errors
def sources_unmute(name: str, config_path: Path | None) -> None:
    """Post a muted source's alerts one by one again.

    \b
    Example:
      watcher sources unmute "Example Gazette"
    """
    from watcher.store.judgments import unmute_source

    with _database(config_path) as db, db.session() as session:
        changed = unmute_source(session, name)
    click.echo(f"unmuted {name}" if changed else f"{name} was not muted")
