"""Helpers for the outbox and dispatcher tests: realistic rows, fake time, what Slack shows."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from watcher.alerts.delivery import Sender, SendResult, SlackPayload
from watcher.model import (
    ArticleRecord,
    ExtractionStatus,
    FeedEntry,
    FetchOutcome,
    FetchResult,
    Hit,
    SourceSpec,
    TermMatch,
)
from watcher.pipeline.dispatch import Dispatcher
from watcher.settings import AlertsConfig
from watcher.store.articles import SavedArticle, save_poll
from watcher.store.db import Database
from watcher.store.models import AlertRow, SourceRow
from watcher.store.sources import sync_sources

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SPEC = SourceSpec(name="Harbour Post", url="http://127.0.0.1:9/feed.xml")
OK = FetchResult(url=SPEC.url, outcome=FetchOutcome.OK)
NAMES = {"aukus-japan": "AUKUS and Japan", "clearance": "Security clearance law"}
_ARTICLE = re.compile(r"http://127\.0\.0\.1:9/a(\d+)\b")


class FakeTime:
    """A clock, `monotonic` and `sleep` that move together without real waiting."""

    def __init__(self, start: datetime = NOW) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds


class Recorder:
    """Wraps a sender and notes (channel, time, thread_ts) of every send call."""

    def __init__(self, inner: Sender, monotonic: Callable[[], float]) -> None:
        self.inner = inner
        self.monotonic = monotonic
        self.calls: list[tuple[str, float, str | None]] = []

    def send(self, payload: SlackPayload, *, channel: str, thread_ts: str | None) -> SendResult:
        self.calls.append((channel, self.monotonic(), thread_ts))
        return self.inner.send(payload, channel=channel, thread_ts=thread_ts)


def hit(rule: str = "aukus-japan", severity: str = "high") -> Hit:
    return Hit(
        rule, "v1", severity, 2.0, (TermMatch("AUKUS", "text", 0, 5),), ("AUKUS",),
        "AUKUS and Japan agree on Pillar II work",
    )  # fmt: skip


def article(
    n: int, *, rules: Sequence[str] = ("aukus-japan",), routes: Sequence[str] = ("#a",)
) -> ArticleRecord:
    """Article number `n` (its URL ends in `/a<n>`) with a hit for each of `rules`."""
    url = f"http://127.0.0.1:9/a{n}"
    return ArticleRecord(
        entry=FeedEntry(key=f"k{n}", url=url, title=f"Story {n}", summary="s", published=None),
        url=url, canonical_url=url, title=f"Story {n}", text=f"AUKUS text {n}", summary="s",
        outlet=f"outlet{n}.example", published=NOW - timedelta(minutes=n),
        extraction=ExtractionStatus.OK, extraction_reason=None, content_hash=f"h{n}",
        hits=tuple(hit(r) for r in rules), routes=tuple(routes),
    )  # fmt: skip


def seed(
    db: Database,
    records: Iterable[ArticleRecord],
    *,
    story: int | None = None,
    now: datetime = NOW,
) -> list[SavedArticle]:
    """Store `records` through `save_poll` (alert rows included); `story`: join that story."""
    with db.session() as session:
        sync_sources(session, [SPEC], now)
    with db.session() as session:
        source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == SPEC.name))
        assert source_id is not None
        return save_poll(
            session, source_id=source_id, result=OK, records=list(records),
            find_story=lambda _r: story, now=now,
        )  # fmt: skip


def dispatcher(
    db: Database,
    sender: Sender,
    clock: FakeTime,
    *,
    alerts: AlertsConfig | None = None,
    **kwargs: Any,
) -> Dispatcher:
    """A Dispatcher on fake time (pace 1 s) naming the rules as `NAMES` does."""
    kwargs.setdefault("pace", 1.0)
    return Dispatcher(
        db, sender, lambda: NAMES, clock=clock.now, sleep=clock.sleep,
        monotonic=clock.monotonic, alerts=alerts, **kwargs,
    )  # fmt: skip


def articles_in(text: str) -> list[int]:
    """The article numbers linked from a message's text."""
    return [int(n) for n in _ARTICLE.findall(text)]


def shown(delivered: Iterable[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, list[int]]]:
    """What the channels show: (channel, article numbers) per delivered message, in order."""
    return [
        (channel, articles_in(str(params.get("text", "")))) for channel, _ts, params in delivered
    ]


def alert_rows(db: Database) -> list[AlertRow]:
    with db.session() as session:
        return list(session.scalars(select(AlertRow).order_by(AlertRow.id)))
