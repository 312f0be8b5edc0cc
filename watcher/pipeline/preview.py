"""Rule preview: what a query would match in the stored history, and what an edit changes.

`preview(db, query, since=..., sets=..., current=rule)` parses `query` (a
`QuerySyntaxError` carries the offset; the console shows the column),
builds the rule it would be, and replays it with the backtest
(`pipeline.backtest.backtest`, the one replay engine) over the articles
first seen within the window:

* **matches**: every article the query matches, with the hit (term offsets
  for highlighting);
* with `current` (the rule in force with the same id): the backtest's diff,
  the stories that would newly alert (*added*) and those that would stop
  (*removed*), against the stored hits.

Only candidate articles are replayed: those whose search-index skeletons
hold the query's terms as the query combines them (`presence_formula`: AND
and OR kept, NOT asking nothing; `store.search_index.candidate_ids`), a
superset of what can match, plus the articles with stored hits. A query
that requires no term the index can look up (`NOT x` alone, only terms
under three characters on SQLite) replays the whole window;
`PreviewResult.prefiltered` says which happened.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from watcher.model import Hit
from watcher.pipeline.backtest import RuleDiff, backtest, document_of
from watcher.rules.load import Rule, rule_version
from watcher.rules.match import compile_rules, match, presence_formula, required_patterns
from watcher.rules.parse import parse_query
from watcher.rules.terms import TermSet, set_nodes, used_sets
from watcher.store.db import Database
from watcher.store.history import StoredArticle
from watcher.store.search_index import candidate_ids

__all__ = ["PREVIEW_ID", "PreviewMatch", "PreviewResult", "preview", "preview_rule"]

PREVIEW_ID = "preview"  # the id of a previewed query that edits no rule


@dataclass(frozen=True)
class PreviewMatch:
    """A stored article the previewed query matches, with the hit it would get."""

    article: StoredArticle
    hit: Hit


@dataclass(frozen=True)
class PreviewResult:
    """What a previewed query does to the stored articles first seen since `since`."""

    rule: Rule  # the rule the query would be
    since: datetime
    matched: tuple[int, ...]  # ids of every matching article, newest first
    shown: tuple[PreviewMatch, ...]  # the newest `shown` of them, with their hits
    replayed: int  # articles the matcher ran on
    prefiltered: bool  # True: only the search index's candidates were replayed
    diff: RuleDiff | None  # with a rule in force: what the edit adds and removes
    seconds: float  # wall time of the whole preview


def preview_rule(query: str, sets: Mapping[str, TermSet], current: Rule | None = None) -> Rule:
    """The rule `query` would be: `current` with the query changed, else a new rule.

    Raises `QuerySyntaxError` (with `offset`) when the query is invalid.
    """
    node = parse_query(query, set_nodes(sets))
    uses = used_sets(node, sets)
    rule_id = current.id if current else PREVIEW_ID
    severity = current.severity if current else "medium"
    return Rule(
        id=rule_id,
        name=current.name if current else "preview",
        severity=severity,
        query=query,
        node=node,
        route=current.route if current else None,
        examples=(),
        counter_examples=(),
        enabled=True,
        path=current.path if current else Path("<preview>"),
        version=rule_version(rule_id, severity, query, uses),
        term_sets=uses,
    )


def preview(
    db: Database,
    query: str,
    *,
    since: datetime,
    sets: Mapping[str, TermSet],
    current: Rule | None = None,
    shown: int = 50,
) -> PreviewResult:
    """Replay `query` over the articles first seen at or after `since` (see the module).

    The replay only decides which articles match; the evidence (term offsets
    for `<mark>`, score) is built for the newest `shown` matches alone.
    """
    start = time.perf_counter()
    rule = preview_rule(query, sets, current)
    needs = [sorted(need) for need in required_patterns(rule.node)]
    with db.session() as session:
        candidates = candidate_ids(session, presence_formula(rule.node), since, needs)
    found: list[StoredArticle] = []

    def keep(article: StoredArticle, rule_ids: list[str]) -> None:
        if rule.id in rule_ids:
            found.append(article)

    result = backtest(
        db,
        [rule],
        since=since,
        baseline=[current] if current else [],
        candidates=candidates,
        on_match=keep,
    )
    diff = next((d for d in result.rules if d.rule_id == rule.id), None) if current else None
    found.sort(key=lambda a: (a.first_seen_at, a.id), reverse=True)
    matcher = compile_rules([rule])
    with_hits = []
    for article in found[:shown]:
        hits = match(matcher, document_of(article))
        if hits:  # always: the replay matched it with the same rule
            with_hits.append(PreviewMatch(article, hits[0]))
    return PreviewResult(
        rule=rule,
        since=since,
        matched=tuple(a.id for a in found),
        shown=tuple(with_hits),
        replayed=result.articles,
        prefiltered=candidates is not None,
        diff=diff,
        seconds=time.perf_counter() - start,
    )
