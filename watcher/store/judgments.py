"""The analysts' feedback in the database: button tokens, judgments, message updates, mutes.

Tables (`watcher.store.models`): `alert_feedback` (one row per instant alert
posted with buttons: its opaque token and the state of the `chat.update`
that shows the verdicts), `judgments` (one row per (alert, analyst)) and
`source_mutes`. All of it lives beside the alerts and hits, which retention
keeps: only article text is pruned, so stats and labels outlive it.

Idempotence: Slack redelivers an envelope that was not acknowledged in
time, and analysts double-click. `record_click` inserts the (alert,
analyst) row if there is none (INSERT … ON CONFLICT DO NOTHING, so two
concurrent deliveries cannot both insert) and otherwise replaces the
verdict only when the click is newer than the stored one (Slack's
`action_ts`): a redelivered envelope, which carries the same click, changes
nothing, and the latest click wins whatever order they arrive in.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from watcher.model import AlertMessage, Click, Feedback, Verdict
from watcher.store.models import (
    AlertFeedbackRow,
    AlertKind,
    AlertRow,
    ArticleRow,
    DeliveryState,
    HitRow,
    JudgmentRow,
    SourceMuteRow,
    SourceRow,
)
from watcher.store.outbox import load_hits
from watcher.store.route_messages import rowcount

__all__ = [
    "JudgedArticle",
    "JudgmentView",
    "Recorded",
    "RuleStats",
    "UpdateItem",
    "alert_token",
    "claim_update",
    "feedback_for",
    "judged_articles",
    "judgment_counts",
    "list_judgments",
    "mark_update",
    "mute_by_token",
    "mute_source",
    "muted_alert",
    "muted_sources",
    "not_relevant_streaks",
    "pending_updates",
    "record_click",
    "retry_update",
    "rule_stats",
    "unmute_source",
    "update_attempts",
]

TOKEN_BYTES = 12  # 16 URL-safe characters: unguessable, and short in the button's value


# --- tokens and clicks -----------------------------------------------------------------


def alert_token(session: Session, alert_id: int, *, now: datetime) -> str:
    """The alert's feedback token, created on first use (the same on every resend)."""
    row = session.get(AlertFeedbackRow, alert_id)
    if row is None:
        row = AlertFeedbackRow(
            alert_id=alert_id,
            token=secrets.token_urlsafe(TOKEN_BYTES),
            created_at=now,
            update_attempts=0,
        )
        session.add(row)
        session.flush()
    return row.token


@dataclass(frozen=True)
class Recorded:
    """What one click did: the alert it was for (None: unknown token), and whether it
    created a judgment or changed its verdict (neither for a redelivery, a repeated
    click or an older click delivered late)."""

    alert_id: int | None
    created: bool = False
    changed: bool = False


def _alert_for_token(session: Session, token: str) -> int | None:
    return session.scalar(select(AlertFeedbackRow.alert_id).where(AlertFeedbackRow.token == token))


def record_click(session: Session, click: Click, *, now: datetime) -> Recorded:
    """Store a Relevant/Not relevant click (see the module docstring); queue the update.

    A new or changed judgment sets the alert's message update to pending.
    """
    verdict = click.verdict
    alert_id = _alert_for_token(session, click.token)
    if alert_id is None or verdict is None:
        return Recorded(alert_id)
    analyst_id, analyst_name = click.analyst_id[:64], click.analyst_name[:200]
    envelope_id = click.envelope_id[:100]
    values = {
        "alert_id": alert_id,
        "analyst_id": analyst_id,
        "analyst_name": analyst_name,
        "verdict": verdict.value,
        "judged_at": click.clicked_at,
        "first_judged_at": click.clicked_at,
        "recorded_at": now,
        "envelope_id": envelope_id,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = rowcount(
        session.execute(
            insert(JudgmentRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["alert_id", "analyst_id"])
        )
    )
    changed = bool(created)
    if not created:
        row = session.scalars(
            select(JudgmentRow)
            .where(JudgmentRow.alert_id == alert_id, JudgmentRow.analyst_id == analyst_id)
            .with_for_update()
        ).one()
        if row.judged_at < click.clicked_at:  # a newer click: it wins, even if it says the same
            changed = row.verdict != verdict.value
            row.verdict, row.judged_at = verdict.value, click.clicked_at
            row.analyst_name, row.envelope_id = analyst_name, envelope_id
            row.recorded_at = now
            session.flush()
    if changed:
        session.execute(
            update(AlertFeedbackRow)
            .where(AlertFeedbackRow.alert_id == alert_id)
            .values(
                update_state=DeliveryState.PENDING,
                update_attempts=0,
                update_next_at=None,
                update_error=None,
            )
            .execution_options(synchronize_session=False)
        )
    return Recorded(alert_id, created=bool(created), changed=changed and not created)


def feedback_for(session: Session, alert_id: int, *, mute_button: bool = True) -> Feedback:
    """The alert's token and its verdicts, in the order analysts first gave them."""
    token = session.scalar(
        select(AlertFeedbackRow.token).where(AlertFeedbackRow.alert_id == alert_id)
    )
    rows = session.execute(
        select(JudgmentRow.verdict, JudgmentRow.analyst_name)
        .where(JudgmentRow.alert_id == alert_id)
        .order_by(JudgmentRow.first_judged_at, JudgmentRow.id)
    )
    verdicts = tuple((Verdict(v), name) for v, name in rows)
    return Feedback(token=token or "", verdicts=verdicts, mute_button=mute_button)


# --- message updates (chat.update), delivered like the outbox ----------------------------


@dataclass(frozen=True)
class UpdateItem:
    """An alert whose message must be updated to show its verdicts."""

    message: AlertMessage
    channel: str
    ts: str
    sent_at: datetime  # when it was posted: its relative times are kept as they were
    feedback: Feedback


def pending_updates(
    session: Session, *, now: datetime, limit: int = 50, mute_button: bool = True
) -> list[UpdateItem]:
    """Due message updates, oldest judgment first (claimed or backing-off rows excluded)."""
    query = (
        select(AlertRow, ArticleRow)
        .join(AlertFeedbackRow, AlertFeedbackRow.alert_id == AlertRow.id)
        .join(ArticleRow, ArticleRow.id == AlertRow.article_id)
        .where(
            AlertFeedbackRow.update_state == DeliveryState.PENDING,
            or_(AlertFeedbackRow.update_next_at.is_(None), AlertFeedbackRow.update_next_at <= now),
            AlertRow.ts.is_not(None),
            AlertRow.channel.is_not(None),
        )
        .order_by(AlertRow.id)
        .limit(limit)
    )
    items = []
    for alert, article in session.execute(query):
        assert alert.ts is not None
        assert alert.channel is not None
        items.append(
            UpdateItem(
                message=AlertMessage(
                    alert_id=alert.id,
                    route=alert.route,
                    title=article.title,
                    url=article.url,
                    outlet=article.outlet,
                    published=article.published_at or article.first_seen_at,
                    hits=load_hits(session, article.id),
                    story_id=article.story_id,
                ),
                channel=alert.channel,
                ts=alert.ts,
                sent_at=alert.sent_at or now,
                feedback=feedback_for(session, alert.id, mute_button=mute_button),
            )
        )
    return items


def claim_update(session: Session, alert_id: int, *, now: datetime, lease: timedelta) -> bool:
    """Take a due pending update for one `chat.update` (counted as an attempt)."""
    model = AlertFeedbackRow
    result = session.execute(
        update(model)
        .where(
            model.alert_id == alert_id,
            model.update_state == DeliveryState.PENDING,
            or_(model.update_next_at.is_(None), model.update_next_at <= now),
        )
        .values(update_attempts=model.update_attempts + 1, update_next_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def mark_update(
    session: Session, alert_id: int, state: DeliveryState, *, error: str | None = None
) -> None:
    """The update's final outcome: `sent` (the message shows the verdicts), `failed` or `dead`.

    Only a claimed pending row changes: a click that arrived during the send
    reset it to a fresh pending update, which must still go out.
    """
    session.execute(
        update(AlertFeedbackRow)
        .where(
            AlertFeedbackRow.alert_id == alert_id,
            AlertFeedbackRow.update_state == DeliveryState.PENDING,
            AlertFeedbackRow.update_attempts > 0,
        )
        .values(update_state=state, update_next_at=None, update_error=error)
        .execution_options(synchronize_session=False)
    )


def retry_update(
    session: Session, alert_id: int, *, error: str, at: datetime, max_attempts: int
) -> bool:
    """A transient failure: due again at `at`; False (and `failed`) when attempts ran out."""
    row = session.get(AlertFeedbackRow, alert_id)
    if row is None or row.update_state is not DeliveryState.PENDING:
        return True
    row.update_error = error
    if row.update_attempts >= max_attempts:
        row.update_state, row.update_next_at = DeliveryState.FAILED, None
        return False
    row.update_next_at = at
    return True


def update_attempts(session: Session, alert_id: int) -> int:
    """Attempts so far of the alert's message update (the current claim included)."""
    row = session.get(AlertFeedbackRow, alert_id)
    return row.update_attempts if row is not None else 0


# --- mutes -----------------------------------------------------------------------------


def mute_source(session: Session, name: str, *, by: str, now: datetime) -> bool:
    """Mute the source called `name`; False when there is no such source. Idempotent."""
    source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == name))
    if source_id is None:
        return False
    if session.get(SourceMuteRow, source_id) is None:
        session.add(SourceMuteRow(source_id=source_id, muted_at=now, muted_by=by[:200]))
        session.flush()
    return True


def mute_by_token(session: Session, token: str, *, by: str, now: datetime) -> str | None:
    """Mute the source of the alert with this token; its name (None: unknown token/source)."""
    name = session.scalar(
        select(SourceRow.name)
        .join(ArticleRow, ArticleRow.source_id == SourceRow.id)
        .join(AlertRow, AlertRow.article_id == ArticleRow.id)
        .join(AlertFeedbackRow, AlertFeedbackRow.alert_id == AlertRow.id)
        .where(AlertFeedbackRow.token == token)
    )
    if name is None:
        return None
    mute_source(session, name, by=by, now=now)
    return name


def unmute_source(session: Session, name: str) -> bool:
    """Unmute the source called `name`; False when it was not muted (or does not exist)."""
    source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == name))
    if source_id is None:
        return False
    return bool(
        rowcount(session.execute(delete(SourceMuteRow).where(SourceMuteRow.source_id == source_id)))
    )


def muted_alert(session: Session, alert_id: int) -> bool:
    """Whether the alert's article came from a muted source (then it goes to the digest)."""
    found = session.scalar(
        select(SourceMuteRow.source_id)
        .join(ArticleRow, ArticleRow.source_id == SourceMuteRow.source_id)
        .join(AlertRow, AlertRow.article_id == ArticleRow.id)
        .where(AlertRow.id == alert_id)
    )
    return found is not None


def muted_sources(session: Session) -> dict[str, tuple[datetime, str]]:
    """Source name -> (when, by whom) for every muted source."""
    rows = session.execute(
        select(SourceRow.name, SourceMuteRow.muted_at, SourceMuteRow.muted_by).join(
            SourceMuteRow, SourceMuteRow.source_id == SourceRow.id
        )
    )
    return {name: (at, by) for name, at, by in rows}


def not_relevant_streaks(session: Session) -> dict[str, int]:
    """Per source: how many of its latest judged alerts in a row were judged only not relevant.

    An alert counts as not relevant when every analyst who judged it said so;
    the streak ends at the most recent alert someone found relevant.
    """
    rows = session.execute(
        select(SourceRow.name, JudgmentRow.alert_id, JudgmentRow.verdict, JudgmentRow.judged_at)
        .join(AlertRow, AlertRow.id == JudgmentRow.alert_id)
        .join(ArticleRow, ArticleRow.id == AlertRow.article_id)
        .join(SourceRow, SourceRow.id == ArticleRow.source_id)
    )
    per_alert: dict[tuple[str, int], list[tuple[datetime, str]]] = defaultdict(list)
    for name, alert_id, verdict, judged_at in rows:
        per_alert[(name, alert_id)].append((judged_at, verdict))
    per_source: dict[str, list[tuple[datetime, bool]]] = defaultdict(list)
    for (name, _alert), verdicts in per_alert.items():
        latest = max(at for at, _v in verdicts)
        per_source[name].append((latest, all(v == Verdict.NOT_RELEVANT for _a, v in verdicts)))
    streaks = {}
    for name, alerts in per_source.items():
        streak = 0
        for _at, bad in sorted(alerts, reverse=True):
            if not bad:
                break
            streak += 1
        streaks[name] = streak
    return streaks


# --- reading: lists, stats, the corpus, metrics ----------------------------------------


@dataclass(frozen=True)
class JudgmentView:
    """A row of `watcher feedback`: who judged which alert how, and when."""

    alert_id: int
    analyst_id: str
    analyst_name: str
    verdict: Verdict
    judged_at: datetime
    rules: tuple[str, ...]  # the rules the alert was for
    title: str
    url: str
    route: str


def _rules_by_article(session: Session, article_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = sorted(set(article_ids))
    found: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for article_id, rule in session.execute(
            select(HitRow.article_id, HitRow.rule_id)
            .where(HitRow.article_id.in_(chunk))
            .order_by(HitRow.rule_id)
        ):
            found[article_id].append(rule)
    return found


def list_judgments(
    session: Session, *, rule: str | None = None, since: datetime | None = None
) -> list[JudgmentView]:
    """Judgments, newest first, optionally only alerts for `rule` and clicks after `since`."""
    query = (
        select(JudgmentRow, AlertRow.article_id, AlertRow.route, ArticleRow.title, ArticleRow.url)
        .join(AlertRow, AlertRow.id == JudgmentRow.alert_id)
        .join(ArticleRow, ArticleRow.id == AlertRow.article_id)
        .order_by(JudgmentRow.judged_at.desc(), JudgmentRow.id.desc())
    )
    if since is not None:
        query = query.where(JudgmentRow.judged_at >= since)
    rows = list(session.execute(query))
    rules = _rules_by_article(session, (r[1] for r in rows))
    views = [
        JudgmentView(
            alert_id=j.alert_id,
            analyst_id=j.analyst_id,
            analyst_name=j.analyst_name,
            verdict=Verdict(j.verdict),
            judged_at=j.judged_at,
            rules=tuple(rules.get(article_id, [])),
            title=title,
            url=url,
            route=route,
        )
        for j, article_id, route, title, url in rows
    ]
    return [v for v in views if rule is None or rule in v.rules]


@dataclass(frozen=True)
class RuleStats:
    """One rule's instant alerts in a period and what the analysts said of them.

    `precision` is relevant / (relevant + not relevant) over the judgments (one
    per analyst and alert), None when there are none; `trend` is the second
    half of the period's precision minus the first half's (None unless both
    halves have judgments).
    """

    rule_id: str
    alerts: int
    judged: int  # alerts with at least one judgment
    relevant: int
    not_relevant: int
    precision: float | None
    trend: float | None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (precision and trend rounded to 3 places)."""
        return {
            "rule": self.rule_id,
            "alerts": self.alerts,
            "judged": self.judged,
            "relevant": self.relevant,
            "not_relevant": self.not_relevant,
            "precision": None if self.precision is None else round(self.precision, 3),
            "trend": None if self.trend is None else round(self.trend, 3),
        }


def _precision(relevant: int, not_relevant: int) -> float | None:
    total = relevant + not_relevant
    return relevant / total if total else None


def _instant_alerts(since: datetime | None) -> Select[int, int, datetime | None]:
    query = select(AlertRow.id, AlertRow.article_id, AlertRow.sent_at).where(
        AlertRow.kind == AlertKind.ALERT,
        AlertRow.state == DeliveryState.SENT,
        AlertRow.digest_id.is_(None),
    )
    return query if since is None else query.where(AlertRow.sent_at >= since)


def rule_stats(session: Session, *, since: datetime | None, now: datetime) -> list[RuleStats]:
    """Per rule with instant alerts posted since `since`: counts, precision and trend."""
    alerts = [(a, art, sent or now) for a, art, sent in session.execute(_instant_alerts(since))]
    if not alerts:
        return []
    rules = _rules_by_article(session, (art for _a, art, _s in alerts))
    verdicts: dict[int, list[str]] = defaultdict(list)
    ids = [a for a, _art, _s in alerts]
    for start in range(0, len(ids), 500):
        for alert_id, verdict in session.execute(
            select(JudgmentRow.alert_id, JudgmentRow.verdict).where(
                JudgmentRow.alert_id.in_(ids[start : start + 500])
            )
        ):
            verdicts[alert_id].append(verdict)
    start_at = since or min(s for _a, _art, s in alerts)
    middle = start_at + (now - start_at) / 2
    tally: dict[str, _Tally] = defaultdict(_Tally)
    for alert_id, article_id, sent_at in alerts:
        mine = verdicts.get(alert_id, [])
        good = sum(v == Verdict.RELEVANT for v in mine)
        bad = len(mine) - good
        for rule in dict.fromkeys(rules.get(article_id, [])):
            tally[rule].add(good, bad, late=sent_at >= middle)
    return [t.stats(rule) for rule, t in sorted(tally.items())]


@dataclass
class _Tally:
    """Counts for one rule: alerts, judged alerts, verdicts overall and per half period."""

    alerts: int = 0
    judged: int = 0
    good: int = 0
    bad: int = 0
    early: tuple[int, int] = (0, 0)
    late: tuple[int, int] = (0, 0)

    def add(self, good: int, bad: int, *, late: bool) -> None:
        self.alerts += 1
        self.judged += bool(good or bad)
        self.good += good
        self.bad += bad
        if late:
            self.late = (self.late[0] + good, self.late[1] + bad)
        else:
            self.early = (self.early[0] + good, self.early[1] + bad)

    def stats(self, rule: str) -> RuleStats:
        first, second = _precision(*self.early), _precision(*self.late)
        return RuleStats(
            rule_id=rule,
            alerts=self.alerts,
            judged=self.judged,
            relevant=self.good,
            not_relevant=self.bad,
            precision=_precision(self.good, self.bad),
            trend=None if first is None or second is None else second - first,
        )


@dataclass(frozen=True)
class JudgedArticle:
    """An article analysts judged, with its stored text and the verdicts per rule.

    `verdicts` maps each rule the article's alerts were for to the verdicts
    given (one per analyst and alert); `text` is None once retention pruned it.
    """

    article_id: int
    title: str
    url: str
    published: datetime | None
    outlet: str
    text: str | None
    summary: str
    verdicts: dict[str, list[Verdict]]


def judged_articles(
    session: Session, *, rule: str | None = None, since: datetime | None = None
) -> list[JudgedArticle]:
    """Every judged article (optionally judged since `since`, for `rule`), oldest first."""
    query = (
        select(ArticleRow, JudgmentRow.verdict)
        .join(AlertRow, AlertRow.article_id == ArticleRow.id)
        .join(JudgmentRow, JudgmentRow.alert_id == AlertRow.id)
        .order_by(ArticleRow.id)
    )
    if since is not None:
        query = query.where(JudgmentRow.judged_at >= since)
    articles: dict[int, ArticleRow] = {}
    given: dict[int, list[Verdict]] = defaultdict(list)
    for article, verdict in session.execute(query):
        articles[article.id] = article
        given[article.id].append(Verdict(verdict))
    rules = _rules_by_article(session, articles)
    out = []
    for article_id, article in articles.items():
        article_rules = rules.get(article_id, [])
        if rule is not None and rule not in article_rules:
            continue
        out.append(
            JudgedArticle(
                article_id=article_id,
                title=article.title,
                url=article.url,
                published=article.published_at,
                outlet=article.outlet,
                text=article.text,
                summary=article.summary,
                verdicts={r: list(given[article_id]) for r in article_rules},
            )
        )
    return out


def judgment_counts(session: Session) -> dict[tuple[str, str], int]:
    """(rule, verdict) -> judgments of alerts for that rule: the `/metrics` gauge."""
    rows = session.execute(
        select(HitRow.rule_id, JudgmentRow.verdict, func.count())
        .select_from(JudgmentRow)
        .join(AlertRow, AlertRow.id == JudgmentRow.alert_id)
        .join(HitRow, and_(HitRow.article_id == AlertRow.article_id))
        .group_by(HitRow.rule_id, JudgmentRow.verdict)
    )
    return {(rule, verdict): int(n) for rule, verdict, n in rows}
