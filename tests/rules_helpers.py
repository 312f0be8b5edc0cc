"""Helpers for the rule tests: a rule from a query string, a one-off match."""

from __future__ import annotations

from pathlib import Path

from watcher.model import Document, Hit
from watcher.rules.load import Rule, rule_version
from watcher.rules.match import compile_rules, match
from watcher.rules.parse import parse_query


def make_rule(query: str, rule_id: str = "r", severity: str = "high") -> Rule:
    """A rule built in memory from a query (no file)."""
    return Rule(
        id=rule_id,
        name=rule_id,
        severity=severity,
        query=query,
        node=parse_query(query),
        route=None,
        examples=(),
        counter_examples=(),
        enabled=True,
        path=Path(f"{rule_id}.yaml"),
        version=rule_version(rule_id, severity, query),
    )


def hits_for(query: str, text: str, title: str = "", source: str = "", url: str = "") -> list[Hit]:
    """The hits of a one-rule matcher on one document."""
    doc = Document(title=title, text=text, source=source, url=url)
    return match(compile_rules([make_rule(query)]), doc)


def matches(query: str, text: str, title: str = "", source: str = "", url: str = "") -> bool:
    """Does `query` match the document?"""
    return bool(hits_for(query, text, title, source, url))
