"""Read models for the web console (`watcher.daemon.console`): stories, hits, sources.

Every function reads; none writes. Timestamps are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watcher.model import OpsNotice, TermMatch
from watcher.store.models import ArticleRow, HitRow, RouteMessageKind, RouteMessageRow, StoryRow
from watcher.store.route_messages import ops_notice


@dataclass(frozen=True)
class StorySummary:
    """A row of the console's front page: a story that has at least one hit."""

    id: int
    title: str
    outlet: str  # the outlet of its first article
    rules: tuple[str, ...]  # rule ids with a hit on any of its articles
    first_seen: datetime  # when its first article was first seen
    copies: int  # its articles (one per outlet or URL)


def recent_stories(session: Session, *, limit: int, offset: int) -> tuple[int, list[StorySummary]]:
    """(how many stories have hits, one page of them newest first by first sighting)."""
    with_hits = (
        select(ArticleRow.story_id)
        .join(HitRow, HitRow.article_id == ArticleRow.id)
        .distinct()
        .scalar_subquery()
    )
    total = int(
        session.scalar(select(func.count()).select_from(StoryRow).where(StoryRow.id.in_(with_hits)))
        or 0
    )
    first_seen = func.min(ArticleRow.first_seen_at)
    rows = session.execute(
        select(StoryRow.id, StoryRow.title, first_seen, func.count(ArticleRow.id))
        .join(ArticleRow, ArticleRow.story_id == StoryRow.id)
        .where(StoryRow.id.in_(with_hits))
        .group_by(StoryRow.id, StoryRow.title)
        .order_by(first_seen.desc(), StoryRow.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    ids = [r[0] for r in rows]
    rules: dict[int, set[str]] = {}
    outlets: dict[int, str] = {}
    if ids:
        for story_id, rule_id in session.execute(
            select(ArticleRow.story_id, HitRow.rule_id)
            .join(HitRow, HitRow.article_id == ArticleRow.id)
            .where(ArticleRow.story_id.in_(ids))
        ):
            rules.setdefault(story_id, set()).add(rule_id)
        for story_id, outlet in session.execute(
            select(ArticleRow.story_id, ArticleRow.outlet)
            .where(ArticleRow.story_id.in_(ids))
            .order_by(ArticleRow.first_seen_at.desc(), ArticleRow.id.desc())
        ):
            outlets[story_id] = outlet  # the last assignment is the earliest article
    stories = [
        StorySummary(
            id=story_id,
            title=title,
            outlet=outlets.get(story_id, ""),
            rules=tuple(sorted(rules.get(story_id, ()))),
            first_seen=seen,
            copies=int(copies),
        )
        for story_id, title, seen, copies in rows
    ]
    return total, stories


@dataclass(frozen=True)
class StoredHitView:
    """A stored hit as the console shows it: rule, score and where its terms matched."""

    rule_id: str
    rule_version: str
    severity: str
    score: float
    matches: tuple[TermMatch, ...]  # offsets into the article's title and text
    clauses: tuple[str, ...]
    snippet: str
    created_at: datetime


@dataclass(frozen=True)
class ArticleView:
    """One article of a story (a copy), with its hits; `text` is None once pruned."""

    id: int
    story_id: int
    title: str
    url: str
    outlet: str
    summary: str
    text: str | None
    first_seen: datetime
    published: datetime | None
    hits: tuple[StoredHitView, ...] = ()


@dataclass(frozen=True)
class StoryDetail:
    """A story with all its articles, oldest first."""

    id: int
    title: str
    articles: tuple[ArticleView, ...]


def _matches(evidence: dict[str, Any]) -> tuple[TermMatch, ...]:
    return tuple(
        TermMatch(
            term=str(m["term"]), field=str(m["field"]), start=int(m["start"]), end=int(m["end"])
        )
        for m in evidence.get("matches", [])
    )


def story_detail(session: Session, story_id: int) -> StoryDetail | None:
    """The story `story_id` with its articles and their hits, or None when unknown."""
    story = session.get(StoryRow, story_id)
    if story is None:
        return None
    articles = list(
        session.scalars(
            select(ArticleRow)
            .where(ArticleRow.story_id == story_id)
            .order_by(ArticleRow.first_seen_at, ArticleRow.id)
        )
    )
    hits: dict[int, list[StoredHitView]] = {}
    if articles:
        for row in session.scalars(
            select(HitRow)
            .where(HitRow.article_id.in_([a.id for a in articles]))
            .order_by(HitRow.score.desc(), HitRow.rule_id)
        ):
            hits.setdefault(row.article_id, []).append(
                StoredHitView(
                    rule_id=row.rule_id,
                    rule_version=row.rule_version,
                    severity=row.severity,
                    score=row.score,
                    matches=_matches(row.evidence),
                    clauses=tuple(str(c) for c in row.evidence.get("clauses", [])),
                    snippet=row.snippet,
                    created_at=row.created_at,
                )
            )
    return StoryDetail(
        id=story.id,
        title=story.title,
        articles=tuple(_article_view(a, tuple(hits.get(a.id, ()))) for a in articles),
    )


def _article_view(row: ArticleRow, hits: tuple[StoredHitView, ...] = ()) -> ArticleView:
    return ArticleView(
        id=row.id,
        story_id=row.story_id,
        title=row.title,
        url=row.url,
        outlet=row.outlet,
        summary=row.summary,
        text=row.text,
        first_seen=row.first_seen_at,
        published=row.published_at,
        hits=hits,
    )


def articles_by_id(session: Session, ids: Sequence[int]) -> list[ArticleView]:
    """The articles `ids` (without hits), in the order given; unknown ids are skipped."""
    if not ids:
        return []
    rows = {a.id: a for a in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids)))}
    return [_article_view(rows[i]) for i in ids if i in rows]


def hits_by_day(
    session: Session, since: datetime, rule_id: str | None = None
) -> dict[str, dict[date, int]]:
    """Hits stored at or after `since`, counted per rule and per UTC day."""
    query = select(HitRow.rule_id, HitRow.created_at).where(HitRow.created_at >= since)
    if rule_id is not None:
        query = query.where(HitRow.rule_id == rule_id)
    out: dict[str, dict[date, int]] = {}
    for rule, created in session.execute(query):
        days = out.setdefault(rule, {})
        day = created.date()  # created_at is aware UTC
        days[day] = days.get(day, 0) + 1
    return out


@dataclass(frozen=True)
class RuleActivity:
    """A rule's stored hits: how many since a moment, and the newest."""

    hits: int
    last_hit: datetime | None


def rule_activity(session: Session, since: datetime) -> dict[str, RuleActivity]:
    """Per rule id with stored hits: hits at or after `since` and the newest hit ever."""
    recent = dict(
        session.execute(
            select(HitRow.rule_id, func.count())
            .where(HitRow.created_at >= since)
            .group_by(HitRow.rule_id)
        ).all()
    )
    last: dict[str, datetime] = {
        rule: when
        for rule, when in session.execute(
            select(HitRow.rule_id, func.max(HitRow.created_at)).group_by(HitRow.rule_id)
        )
    }
    return {
        rule: RuleActivity(int(recent.get(rule, 0)), last.get(rule))
        for rule in set(recent) | set(last)
    }


def recent_ops_notices(session: Session, limit: int = 20) -> list[tuple[OpsNotice, str]]:
    """The newest ops notices about sources, with each one's delivery state."""
    rows = session.execute(
        select(RouteMessageRow.id, RouteMessageRow.state)
        .where(RouteMessageRow.kind == RouteMessageKind.OPS)
        .order_by(RouteMessageRow.id.desc())
        .limit(limit)
    ).all()
    return [(ops_notice(session, message_id), str(state)) for message_id, state in rows]
