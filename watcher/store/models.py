"""The tables: sources, feed entries, articles, stories, hits and the alert outbox.

ORM rows never leave `watcher.store`; repository functions convert them to
the dataclasses of `watcher.model` or to small read models of their own.
Every timestamp is stored and returned as an aware UTC datetime.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations are stable."""

    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy API)


Base.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class SourceRow(Base):
    """A configured source and its schedule state (survives restarts)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column(default=True)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=900)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Ops alerts (see `watcher.store.sources`): the current streaks of failed polls and
    # of polls whose document had no entries, and when each streak's ops alert was
    # raised (None: not raised, so it is raised once per streak).
    failing_since: Mapped[datetime | None]
    unhealthy_at: Mapped[datetime | None]
    empty_polls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    empty_since: Mapped[datetime | None]
    empty_at: Mapped[datetime | None]
    # Which daemon process (`host:pid`) polled this source last (shared queue; issue 17).
    polled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class FeedEntryRow(Base):
    """An entry key seen in a source; kept after pruning as a tombstone."""

    __tablename__ = "feed_entries"
    __table_args__ = (UniqueConstraint("source_id", "key", name="uq_feed_entries_source_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    first_seen_at: Mapped[datetime]


class StoryRow(Base):
    """A cluster of near-duplicate articles; alerts are per story and route."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ArticleRow(Base):
    """One article, unique by canonical URL: fetched, extracted and matched once."""

    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_story_id", "story_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str | None] = mapped_column(Text)  # None once pruned by retention
    outlet: Mapped[str] = mapped_column(String(255), default="")
    author: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(20))
    published_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    extraction_status: Mapped[str] = mapped_column(String(20))
    extraction_reason: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"))


class HitRow(Base):
    """A rule matched an article; evidence and the rule's version are kept."""

    __tablename__ = "hits"
    __table_args__ = (UniqueConstraint("article_id", "rule_id", name="uq_hits_article_rule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    rule_version: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)  # matches, clauses
    snippet: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(index=True)


class DeliveryState(enum.StrEnum):
    """Where an outbox row (alert or route message) stands: `pending -> sent | failed | dead`.

    `watcher.store.outbox.replay_dead` puts failed and dead alerts back to pending.
    """

    PENDING = "pending"  # to be sent: queued, held for a digest, claimed or backing off
    SENT = "sent"  # posted; `ts` and `channel` say where
    FAILED = "failed"  # attempts used up on transient errors; kept for replay
    DEAD = "dead"  # can never be delivered as it is (Slack refused it, the route is broken)


class AlertKind(enum.StrEnum):
    """What an alert row posts: the story's first message on its route, or a thread reply."""

    ALERT = "alert"
    REPLY = "reply"  # another article of a story already alerted on the route


class RouteMessageKind(enum.StrEnum):
    """What a route message row posts (see `watcher.store.route_messages`)."""

    DIGEST = "digest"  # the route's held alerts in one message
    BURST = "burst"  # a rule went over its alert budget; also the budget state
    OPS = "ops"  # the operator hears about a source's health


def _str_enum(values: type[enum.StrEnum], length: int = 10) -> Enum:
    """An enum column stored as its plain string values in a VARCHAR (no CHECK, no native type).

    The stored strings are the members' values, so rows written before the enums existed
    read back unchanged and the schema is what the migrations create.
    """
    return Enum(
        values,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class DeliveryMixin:
    """The delivery columns every outbox table has: route, state, claims, retries, Slack ids.

    A claim sets `next_attempt_at` to the lease's end and counts an attempt; a
    retry sets it to when to try again; `ts`/`channel` are Slack's answer.
    """

    route: Mapped[str] = mapped_column(String(200))
    state: Mapped[DeliveryState] = mapped_column(_str_enum(DeliveryState))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(200))
    ts: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class AlertRow(DeliveryMixin, Base):
    """The outbox: one row per (article, route); `kind` is alert or thread reply."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("article_id", "route", name="uq_alerts_article_route"),
        Index("ix_alerts_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"))
    kind: Mapped[AlertKind] = mapped_column(_str_enum(AlertKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    # Set when the alert was diverted into its route's next digest (a digest route,
    # or a rule over its alert budget); `digest_id` once a digest claimed it.
    held_at: Mapped[datetime | None]
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("route_messages.id"), index=True)


class RouteMessageRow(DeliveryMixin, Base):
    """A message to a route that is not one article's alert: a digest, burst or ops notice.

    A `burst` row is also the alert-budget state: while `until` is in the
    future, its rule's alerts on its route are held for the next digest. A
    `digest` row lists the alerts whose `digest_id` points at it; they are
    marked sent with its `ts` when it is. An `ops` row tells the operator
    about a source (`reason`: unhealthy, recovered, empty, refilled) with
    the poll count and the streak's start in `count` and `since`.
    """

    __tablename__ = "route_messages"
    __table_args__ = (Index("ix_route_messages_route_kind_state", "route", "kind", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[RouteMessageKind] = mapped_column(_str_enum(RouteMessageKind))
    rule_id: Mapped[str | None] = mapped_column(String(100))  # bursts: the rule over budget
    count: Mapped[int] = mapped_column(Integer, default=0)  # alerts listed / counted
    since: Mapped[datetime | None]  # digests: the period starts here
    until: Mapped[datetime | None]  # bursts: the rule is held until then
    # ops notices: the source, why, and the last poll's outcome and error at the time
    # A plain id, no foreign key: sources are disabled, never deleted, and adding a
    # constraint would make SQLite rebuild a table other tables point at.
    source_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)


class AlertFeedbackRow(Base):
    """An instant alert's side of the feedback loop: its button token and message update.

    `token` is the opaque value of the alert's buttons (random, so the message
    tells nothing about database ids or counts). `update_state` is None until
    someone judges the alert; then `pending` until `chat.update` showed the
    verdicts (`sent`), or `failed` after the delivery attempts ran out;
    `update_next_at` is the claim's end or the retry time, as in the outbox.
    """

    __tablename__ = "alert_feedback"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    update_state: Mapped[DeliveryState | None] = mapped_column(_str_enum(DeliveryState))
    update_attempts: Mapped[int] = mapped_column(Integer, default=0)
    update_next_at: Mapped[datetime | None]
    update_error: Mapped[str | None] = mapped_column(Text)


class JudgmentRow(Base):
    """One analyst's verdict on one alert: the latest click wins (Slack's action time).

    Kept with the alerts and hits when retention prunes article text, so the
    stats and the exported corpus's labels outlive the text.
    """

    __tablename__ = "judgments"
    __table_args__ = (
        UniqueConstraint("alert_id", "analyst_id", name="uq_judgments_alert_analyst"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    analyst_id: Mapped[str] = mapped_column(String(64))  # Slack user id
    analyst_name: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(20))  # `watcher.model.Verdict` values
    judged_at: Mapped[datetime] = mapped_column(index=True)  # the click (Slack's action_ts)
    first_judged_at: Mapped[datetime]
    recorded_at: Mapped[datetime]  # when we stored the latest verdict
    envelope_id: Mapped[str] = mapped_column(String(100), default="")


class SourceMuteRow(Base):
    """A muted source: its new alerts are held for their route's digest, not posted one by one."""

    __tablename__ = "source_mutes"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    muted_at: Mapped[datetime]
    muted_by: Mapped[str] = mapped_column(String(200))  # "operator" or "@analyst"
