"""Matching semantics of the query language, operator by operator."""

# Typographic quotes, dashes and full-width forms are the very data under test.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest

from tests.rules_helpers import hits_for, make_rule, matches
from watcher.model import Document
from watcher.rules.match import compile_rules, match, score_of

CASES = [
    # (query, text, expected)
    # words: whole word, case-insensitive
    ("AUKUS", "the aukus pact", True),
    ("AUKUS", "the AUKUSpact", False),
    ("pact", "impact", False),
    ("japan", "Japan's choice", True),
    # prefixes
    ("secur*", "Security matters", True),
    ("secur*", "insecurity", False),
    ("clearance*", "security clearances", True),
    ('"security clearance*"', "security clearances", True),
    # phrases: case, hyphens, line breaks, typographic quotes
    ('"Pillar II"', "AUKUS pillar ii projects", True),
    ('"Pillar II"', "Pillar\nII", True),
    ('"Pillar II"', "Pillar-II", True),
    ('"Pillar II"', "Pillar III", False),
    ('"export control"', "export‑control rules", True),
    ('"export control"', "export — control", True),
    ("“Pillar II”", "pillar II", True),
    ('"Japan\'s role"', "Japan’s role", True),
    ('"a b"', "b a", False),
    # AND, OR, NOT, adjacency, parentheses
    ("a AND b", "a b", True),
    ("a AND b", "a c", False),
    ("a b", "b then a", True),
    ("a b", "a only", False),
    ("a OR b", "only b", True),
    ("a OR b", "neither", False),
    ("a NOT b", "a alone", True),
    ("a NOT b", "a and b", False),
    ("a AND NOT b", "a and b", False),
    ("NOT b", "nothing here", True),
    ("(a OR b) AND c", "b c", True),
    ("(a OR b) AND c", "b d", False),
    # precedence: AND binds tighter than OR; NOT tighter than AND
    ("a OR b AND c", "a", True),
    ("a OR b AND c", "b", False),
    ("a OR b AND c", "b c", True),
    ("NOT a OR b", "a b", True),
    ("NOT a OR b", "a", False),
    ("NOT a b", "b", True),
    ("NOT a b", "a b", False),
    # lower-case operators are words
    ("a and b", "a b", False),
    ("a and b", "a and b", True),
    # NEAR/n: either order, boundary at n and n+1
    ("a NEAR/1 b", "a b", True),
    ("a NEAR/1 b", "b a", True),
    ("a NEAR/1 b", "a x b", False),
    ("a NEAR/2 b", "a x b", True),
    ("a NEAR/3 b", "a x x b", True),
    ("a NEAR/3 b", "a x x x b", False),
    ("a NEAR/3 b", "b x x a", True),
    ("a NEAR/3 b", "b x x x a", False),
    ('"pillar ii" NEAR/2 japan', "Japan joins Pillar II", True),
    ('"pillar ii" NEAR/2 japan', "Pillar II and then Japan", False),
    ("(a OR c) NEAR/1 b", "c b", True),
    ("a NEAR/1 a", "a", False),
    ("a NEAR/1 a", "a a", True),
    ("a NEAR/1 b NEAR/1 c", "a b c", True),
    ("a NEAR/1 b NEAR/1 c", "a b x c", False),
    # ATLEAST
    ("ATLEAST(2, japan)", "Japan and Japan", True),
    ("ATLEAST(2, japan)", "Japan once", False),
    ("ATLEAST(3, japan OR tokyo)", "Japan, Tokyo, Japan", True),
    ('ATLEAST(2, korea OR "south korea")', "South Korea", False),
    ('ATLEAST(2, korea OR "south korea")', "South Korea and Korea", True),
    # Japanese and other scripts without spaces: substrings after NFKC
    ("日本", "日本政府は", True),
    ("第2の柱", "AUKUS「第２の柱」に", True),
    ("AUKUS", "枠組みAUKUSの", True),
    ("AUKUS", "枠組みＡＵＫＵＳの", True),
    ("オーカス", "米英豪の安保枠組み「オーカス」", True),
    ("オーカス", "ｵｰｶｽ", True),
    ("セキュリティクリアランス", "セキュリティ・クリアランス制度", True),
    ("セキュリティクリアランス", "セキュリティ\nクリアランス", True),
    ("柱", "第2の", False),
    ("AUKUS 第2の柱", "AUKUS（オーカス）の第２の柱", True),
    # NEAR in Japanese: two characters count as one word
    ("日本 NEAR/2 協力", "日本との協力", True),
    ("日本 NEAR/1 協力", "日本とさらなる協力", False),
    # invisible characters inside a word (hostile or hyphenated text) do not hide it
    ('"AUKUS Pillar II"', "AU\u200bKUS Pil\u00adlar\u2060 \u202eII\u202c talks", True),
    ("secrets", "new se\u200ccr\u200dets law\ufeff", True),
    ("日本 NEAR/2 協力", "日\u200b本との\u200e協力", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), CASES)
def test_query_semantics(query: str, text: str, expected: bool) -> None:
    """Each operator matches exactly the documents the language reference says."""
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "title", "text", "expected"),
    [
        ("title:japan", "Japan joins", "nothing", True),
        ("title:japan", "Nothing", "Japan joins", False),
        ('title:"pillar ii"', "On Pillar II", "", True),
        ("title:(japan OR tokyo)", "Tokyo talks", "", True),
        ("title:(japan AND tokyo)", "Tokyo talks", "Japan", False),
        ("japan", "Japan joins", "", True),
        ("japan NEAR/3 talks", "Japan", "talks", False),
        ("title:japan NEAR/1 talks", "Japan talks", "", True),
    ],
)
def test_title_scope(query: str, title: str, text: str, expected: bool) -> None:
    """`title:` restricts to the title; unscoped terms search title and text."""
    assert matches(query, text, title=title) is expected


@pytest.mark.parametrize(
    ("query", "source", "url", "expected"),
    [
        ("source:reuters.com", "reuters.com", "", True),
        ("source:reuters.com", "www.reuters.com", "", True),
        ("source:reuters.com", "notreuters.com", "", False),
        ("source:reuters.com", "", "https://www.Reuters.com/world/x", True),
        ("source:reuters.com AND japan", "www.reuters.com", "", True),
        ("NOT source:reuters.com", "www.reuters.com", "", False),
    ],
)
def test_source_scope(query: str, source: str, url: str, expected: bool) -> None:
    """`source:host` matches the outlet host or its subdomains."""
    assert matches(query, "Japan", source=source, url=url) is expected


def test_offsets_point_into_the_original_text() -> None:
    """Term matches report offsets into the field as given, full-width included."""
    text = "米英豪の枠組み（ＡＵＫＵＳ）と Japan’s “Pillar II”"
    (hit,) = hits_for('AUKUS AND "japan\'s pillar ii"', text)
    spans = {m.term: text[m.start : m.end] for m in hit.matches}
    assert spans == {"AUKUS": "ＡＵＫＵＳ", '"japan\'s pillar ii"': "Japan’s “Pillar II"}


def test_hit_carries_rule_identity_and_clauses() -> None:
    """A hit names the rule, its version and severity, and the top-level clauses that fired."""
    rule = make_rule("(japan OR tokyo) AND aukus", rule_id="jp", severity="low")
    (hit,) = match(compile_rules([rule]), Document(title="", text="Tokyo and AUKUS"))
    assert (hit.rule_id, hit.rule_version, hit.severity) == ("jp", rule.version, "low")
    assert hit.clauses == ("(japan OR tokyo)", "aukus")


def test_or_clauses_list_only_those_that_fired() -> None:
    """For a top-level OR only the alternatives that matched are listed."""
    (hit,) = hits_for("japan OR korea OR canada", "Canada and Japan")
    assert hit.clauses == ("japan", "canada")


def test_disabled_rules_are_not_compiled() -> None:
    """A rule with enabled=false never produces hits."""
    from dataclasses import replace

    rule = replace(make_rule("japan"), enabled=False)
    assert match(compile_rules([rule]), Document(title="", text="Japan")) == []


def test_rule_without_terms_is_still_evaluated() -> None:
    """Rules that can match with no term present (NOT, source:) are evaluated on every doc."""
    assert matches("NOT japan", "")
    assert matches("source:example.org", "", source="example.org")


def test_snippet_surrounds_the_strongest_evidence_on_word_boundaries() -> None:
    """The snippet is ~240 characters around the densest evidence, cut between words."""
    filler = "lorem ipsum dolor sit amet " * 20
    text = filler + "Japan may join AUKUS Pillar II projects soon. " + filler
    (hit,) = hits_for('japan AND aukus AND "pillar ii"', text)
    assert "Japan may join AUKUS Pillar II projects" in hit.snippet
    assert hit.snippet.startswith("…")
    assert hit.snippet.endswith("…")
    inner = hit.snippet.strip("…")
    assert len(inner) <= 250
    assert inner.split()[0] in filler.split()
    assert inner.split()[-1] in filler.split()


def test_score_counts_distinct_terms_repeats_and_title() -> None:
    """More distinct terms, repeats and title matches give a higher score."""
    one = hits_for("japan", "Japan")[0].score
    two_terms = hits_for("japan AND aukus", "Japan AUKUS")[0].score
    repeated = hits_for("japan", "Japan Japan Japan")[0].score
    titled = hits_for("japan", "Japan", title="Japan")[0].score
    assert one == 1.0
    assert two_terms > one
    assert repeated > one
    assert titled > repeated
    assert score_of(()) == 0.0


def test_hits_are_sorted_strongest_first() -> None:
    """match() returns hits by descending score, then rule id."""
    rules = [make_rule("japan", "weak"), make_rule("japan AND aukus", "strong")]
    hits = match(compile_rules(rules), Document(title="", text="Japan AUKUS"))
    assert [h.rule_id for h in hits] == ["strong", "weak"]


def test_empty_rule_set_matches_nothing() -> None:
    """A matcher with no rules returns no hits."""
    assert match(compile_rules([]), Document(title="t", text="Japan")) == []
