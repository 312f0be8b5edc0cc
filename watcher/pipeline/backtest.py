"""Backtest: replay a rules directory over stored articles, diff against stored hits.

`backtest(db, rules, since=...)` matches every stored article (optionally
only those first seen within a window) with `rules` and compares, per rule
and per *story* (alerts are per story), what would alert now with what the
stored hits say alerted then:

- *added*: stories that would newly alert (no stored hit of the rule on any
  of their articles, but an article matches now);
- *removed*: stories that would stop alerting (a stored hit, but no article
  matches now).

Each rule gets a status: `new` (not among the baseline rules: the deployed
rules directory when given, else the rule ids of the stored hits), `changed`
(its version differs from the baseline's or from one that produced stored
hits), `removed` (not in the replayed directory), `disabled`, `unchanged`.

Articles whose text retention removed are matched on title and summary
only; changes that rest on such articles are marked `pruned`, since the
stored hit saw the full text.

The console's rule preview runs the same replay on fewer articles:
`candidates` names the only articles that can match (found by the query's
required terms in the search index, `store.search_index.candidate_ids`);
the articles with stored hits are replayed too, so what stops alerting is
still exact. `on_match` sees every replayed article with the rules it matches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from watcher.model import Document
from watcher.rules.load import Rule
from watcher.rules.match import compile_rules, matching_rules
from watcher.store.db import Database
from watcher.store.history import StoredArticle, count_articles, hit_rule_ids, iter_articles
from watcher.store.history import stored_hits as load_stored_hits

__all__ = ["BacktestResult", "RuleDiff", "StoryChange", "backtest", "document_of", "print_table"]

STATUSES = ("new", "changed", "removed", "disabled", "unchanged")


@dataclass(frozen=True)
class StoryChange:
    """A story that would start or stop alerting for a rule, shown by its
    earliest deciding article (the one the alert would link to)."""

    story_id: int
    article_id: int
    title: str
    url: str
    articles: int  # articles of the story that match now (added) or had a hit (removed)
    pruned: bool  # one of those articles was matched on title and summary only

    def to_dict(self) -> dict[str, Any]:
        return {
            "story": self.story_id,
            "article": self.article_id,
            "title": self.title,
            "url": self.url,
            "articles": self.articles,
            "pruned": self.pruned,
        }


@dataclass(frozen=True)
class RuleDiff:
    """One rule's replay against its stored hits."""

    rule_id: str
    status: str  # one of STATUSES
    version: str | None  # the replayed rule's version; None when removed
    stored_versions: tuple[str, ...]  # versions that produced the stored hits
    stored_stories: int
    replayed_stories: int
    added: tuple[StoryChange, ...]
    removed: tuple[StoryChange, ...]

    @property
    def version_changed(self) -> bool:
        return self.status == "changed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "status": self.status,
            "version": self.version,
            "version_changed": self.version_changed,
            "stored_versions": list(self.stored_versions),
            "stored_stories": self.stored_stories,
            "replayed_stories": self.replayed_stories,
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
        }


@dataclass(frozen=True)
class BacktestResult:
    """The whole diff: per rule, in rule id order."""

    since: datetime | None
    articles: int  # articles replayed
    pruned: int  # of which matched on title and summary only
    rules: tuple[RuleDiff, ...]

    @property
    def added(self) -> int:
        return sum(len(r.added) for r in self.rules)

    @property
    def removed(self) -> int:
        return sum(len(r.removed) for r in self.rules)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (timestamps ISO 8601 UTC, ids integers)."""
        since = self.since.isoformat().replace("+00:00", "Z") if self.since else None
        return {
            "since": since,
            "articles": self.articles,
            "pruned_articles": self.pruned,
            "added": self.added,
            "removed": self.removed,
            "rules": [r.to_dict() for r in self.rules],
        }


def document_of(article: StoredArticle) -> Document:
    """What the pipeline matched, rebuilt; a pruned article keeps title and summary."""
    text = article.summary if article.text is None else article.text
    return Document(title=article.title, text=text, source=article.outlet, url=article.url)


@dataclass(frozen=True)
class _Shown:
    """What the diff shows of an article (its text is not kept)."""

    title: str
    url: str
    pruned: bool


@dataclass
class _Side:
    """Stories of one rule on one side (stored or replayed): story -> article ids."""

    stories: dict[int, list[int]] = field(default_factory=dict)

    def add(self, story_id: int, article_id: int) -> None:
        self.stories.setdefault(story_id, []).append(article_id)


def backtest(
    db: Database,
    rules: Sequence[Rule],
    *,
    since: datetime | None = None,
    baseline: Sequence[Rule] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    candidates: Collection[int] | None = None,
    on_match: Callable[[StoredArticle, list[str]], None] | None = None,
) -> BacktestResult:
    """Replay `rules` over the stored articles first seen at or after `since`.

    `baseline` is the rule set in force (to tell new and changed rules);
    without it, the stored hits are the baseline. `on_progress(done, total)`
    is called as articles are replayed. `candidates`: only these articles
    (and those with stored hits of `rules`) can match, so only they are
    replayed, `articles` counts the replayed ones and the diff covers only
    the ids of `rules`. `on_match(article, rule_ids)` is
    called for each replayed article that any rule matches.
    """
    enabled = [r for r in rules if r.enabled]
    matcher = compile_rules(enabled)
    stored: dict[str, _Side] = {}
    replayed: dict[str, _Side] = {}
    versions: dict[str, set[str]] = {}
    shown: dict[int, _Shown] = {}  # articles that may be named in the diff
    with db.session() as session:
        hits = load_stored_hits(session, since)
        if candidates is not None:  # a partial replay can only speak for the replayed rules
            replayed_ids = {r.id for r in rules}
            hits = [h for h in hits if h.rule_id in replayed_ids]
        known_ids = hit_rule_ids(session) if baseline is None else set()
        hit_articles = {h.article_id for h in hits}
        replay = None if candidates is None else set(candidates) | hit_articles
        total = count_articles(session, since) if replay is None else len(replay)
    for h in hits:
        stored.setdefault(h.rule_id, _Side()).add(h.story_id, h.article_id)
        versions.setdefault(h.rule_id, set()).add(h.rule_version)
    done = pruned = 0
    with db.session() as session:
        for article in iter_articles(session, since, ids=replay):
            hits_now = matching_rules(matcher, document_of(article))  # no evidence needed
            if hits_now and on_match is not None:
                on_match(article, hits_now)
            for rule_id in hits_now:
                replayed.setdefault(rule_id, _Side()).add(article.story_id, article.id)
            if hits_now or article.id in hit_articles:
                shown[article.id] = _Shown(article.title, article.url, article.pruned)
            done += 1
            pruned += article.pruned
            if on_progress is not None and (done % 100 == 0 or done == total):
                on_progress(done, total)
    status = _statuses(rules, baseline, known_ids, versions)
    diffs = []
    for rule_id in sorted(status):
        old = stored.get(rule_id, _Side()).stories
        new = replayed.get(rule_id, _Side()).stories
        current = next((r.version for r in rules if r.id == rule_id), None)
        diffs.append(
            RuleDiff(
                rule_id=rule_id,
                status=status[rule_id],
                version=current,
                stored_versions=tuple(sorted(versions.get(rule_id, ()))),
                stored_stories=len(old),
                replayed_stories=len(new),
                added=_changes(new, old, shown),
                removed=_changes(old, new, shown),
            )
        )
    return BacktestResult(since=since, articles=done, pruned=pruned, rules=tuple(diffs))


def _statuses(
    rules: Sequence[Rule],
    baseline: Sequence[Rule] | None,
    known_ids: set[str],
    versions: dict[str, set[str]],
) -> dict[str, str]:
    """Every rule id worth a line, with its status (see the module docstring)."""
    base_versions = {r.id: r.version for r in baseline or () if r.enabled}
    known = set(base_versions) if baseline is not None else known_ids | set(versions)
    out: dict[str, str] = {}
    for rule in rules:
        if not rule.enabled:
            out[rule.id] = "disabled"
        elif rule.id not in known:
            out[rule.id] = "new"
        elif versions.get(rule.id, {rule.version}) - {rule.version} or (
            base_versions.get(rule.id, rule.version) != rule.version
        ):
            out[rule.id] = "changed"
        else:
            out[rule.id] = "unchanged"
    for rule_id in (set(base_versions) | set(versions)) - out.keys():
        out[rule_id] = "removed"
    return out


def _changes(
    these: dict[int, list[int]], those: dict[int, list[int]], shown: dict[int, _Shown]
) -> tuple[StoryChange, ...]:
    """Stories in `these` but not in `those`, oldest first."""
    out: list[StoryChange] = []
    for story_id in sorted(set(these) - set(those)):
        ids = sorted(set(these[story_id]))
        first = shown.get(ids[0])
        out.append(
            StoryChange(
                story_id=story_id,
                article_id=ids[0],
                title=first.title if first else "",
                url=first.url if first else "",
                articles=len(ids),
                pruned=any(shown[i].pruned for i in ids if i in shown),
            )
        )
    return tuple(out)


def print_table(console: Console, result: BacktestResult, rules_dir: str) -> None:
    """The diff for people: a summary table per rule, then the changed stories."""
    window = f"since {result.since:%Y-%m-%d %H:%M} UTC" if result.since else "all history"
    table = Table(
        title=f"backtest of {rules_dir} over {result.articles} articles ({window})",
        title_justify="left",
    )
    table.add_column("rule")
    table.add_column("status")
    table.add_column("stories stored", justify="right")
    table.add_column("stories now", justify="right")
    table.add_column("added", justify="right", style="green")
    table.add_column("removed", justify="right", style="red")
    for diff in result.rules:
        status = diff.status
        if diff.version_changed:
            old = ", ".join(diff.stored_versions) or "deployed"
            status = f"[yellow]changed[/yellow] ({old} -> {diff.version})"
        table.add_row(
            diff.rule_id,
            status,
            str(diff.stored_stories),
            str(diff.replayed_stories),
            f"+{len(diff.added)}" if diff.added else "0",
            f"-{len(diff.removed)}" if diff.removed else "0",
        )
    console.print(table)
    if result.pruned:
        console.print(
            f"{result.pruned} pruned article(s) matched on title and summary only "
            "(their changes are marked [dim]pruned[/dim])."
        )
    for diff in result.rules:
        for sign, colour, changes in (("+", "green", diff.added), ("-", "red", diff.removed)):
            for change in changes:
                note = " [dim](pruned)[/dim]" if change.pruned else ""
                console.print(
                    f"[{colour}]{sign}[/{colour}] {diff.rule_id}  story {change.story_id}: "
                    f"{escape(change.title)}{note}\n    {escape(change.url)}",
                    highlight=False,
                )
    console.print(
        f"{result.added} stories would newly alert, {result.removed} would stop alerting."
    )
