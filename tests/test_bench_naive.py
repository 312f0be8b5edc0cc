"""The naive baseline (`bench/naive.py`) finds the same rules as watcher's matcher."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.naive import NOSPACE, NaiveMatcher, normalise
from bench.newsite import TOPICS_EN, TOPICS_JA
from tests.rules_helpers import make_rule
from watcher.model import Document
from watcher.rules.load import load_rules
from watcher.rules.match import compile_rules, match
from watcher.text.normalize import is_nospace_char

ROOT = Path(__file__).resolve().parents[1]


def _both(query: str, text: str, title: str = "", source: str = "") -> tuple[bool, bool]:
    rules = [make_rule(query)]
    doc = Document(title=title, text=text, source=source, url="")
    return bool(match(compile_rules(rules), doc)), bool(NaiveMatcher(rules).match(doc))


CASES = [
    # Japanese terms with digits match as substrings, half-width or full-width.
    ("第2の柱", "日本はオーカスの第2の柱への参加を検討", True),
    ("第2の柱", "日本はオーカスの第２の柱への参加を検討", True),
    ("第二の柱", "日本はオーカスの第2の柱への参加を検討", False),
    ("日本", "東京と日本政府", True),
    # Latin words need word boundaries; a change of script is one.
    ("AUKUS", "枠組みAUKUSの一環", True),
    ("AUKUS", "the AUKUSx programme", False),
    ("AUKUS", "under_AUKUS_rules", True),
    ("F35", "F35A jets", False),
    ("export*", "exporters gained", True),
    # Phrases tolerate case, hyphens, line breaks; Japanese rejoins across them.
    ('"pillar II"', "PILLAR-II work", True),
    ('"pillar II"', "the pillar\nII work", True),
    ('"pillar II"', "pillarII", False),
    ("セキュリティクリアランス", "セキュリティ・クリアランス制度", True),
    ("セキュリティクリアランス", "セキュリティ\nクリアランス制度", True),
    ("セキュリティクリアランス", "セキュリティ、クリアランス制度", False),
    # NEAR/n counts words; in Japanese two characters make a word.
    ("aukus NEAR/2 japan", "aukus the japan", True),
    ("aukus NEAR/2 japan", "aukus and the japan", False),
    ("japan NEAR/3 aukus", "japan and with aukus", True),
    ("輸出管理 NEAR/3 例外", "輸出管理はあいうえ例外", True),
    ("輸出管理 NEAR/3 例外", "輸出管理はあいうえおかきくけこ例外", False),
    ("輸出管理 NEAR/5 例外", "輸出管理の規則について政府は来年にも見直しを行い例外", False),
    ("第2の柱 NEAR/2 参加", "第2の柱への参加", True),
    ("japan NEAR/0 japan*", "japan", False),  # the same word does not pair with itself
    ("(a1 NEAR/1 b1) NEAR/1 c1", "a1 b1 c1", True),
    # ATLEAST counts separate stretches of text.
    ("ATLEAST(2, ああ)", "あああ", False),
    ("ATLEAST(2, ああ)", "ああいああ", True),
    ("ATLEAST(2, 日本 OR 日本政府)", "日本政府は", False),
    ('ATLEAST(2, "south korea" OR korea)', "South Korea and Korea", True),
    # Fields, sources, NOT.
    ("title:headline AND japan", "japan", True),
    ("title:japan", "japan", False),
    ("NOT aukus", "nothing here", True),
    ("source:example.com AND aukus", "aukus", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), CASES)
def test_naive_agrees_with_watcher_on_small_documents(
    query: str, text: str, expected: bool
) -> None:
    """Each small document matches (or not) as the case says, for the naive and watcher alike."""
    assert _both(query, text, "Headline", "news.example.com") == (expected, expected)


def test_planted_paragraphs_fire_their_rule_in_both_matchers() -> None:
    """The peer site's planted paragraphs fire exactly their rule with the repository's rules."""
    rules = load_rules(ROOT / "rules")
    matcher, naive = compile_rules(rules), NaiveMatcher(rules)
    for topic, paragraph in TOPICS_EN + TOPICS_JA:
        doc = Document(title="", text=paragraph, source="127.0.0.1", url="")
        expected = {topic} if topic else set()
        assert {h.rule_id for h in match(matcher, doc)} == expected, paragraph
        assert set(naive.match(doc)) == expected, paragraph


def test_nospace_class_is_watchers_definition() -> None:
    """The naive's class of scripts without spaces agrees with watcher's on the whole BMP."""
    import re

    nospace = re.compile(NOSPACE)
    differ = [
        cp for cp in range(0x10000) if bool(nospace.match(chr(cp))) != is_nospace_char(chr(cp))
    ]
    assert differ == []
    # Full-width forms fold; the middle dot stays: it sits between Latin and kana.
    assert normalise("\uff21\uff35\uff2b\uff35\uff33・第\uff12の柱") == "aukus・第2の柱"


_WORDS = ["aukus", "Pillar", "II", "2", "第2の柱", "日本", "防衛省", "オーカス", "ああ"]
_WORDS += [
    "\uff46\uff13\uff15",
    "F35",
    "new",
    "セキュリティ",
    "クリアランス",
    "Japan",
    "japanese",
    "x_y",
    "ｶﾞｲ",
    "セキュリティー",
    "ｾｷｭﾘﾃｨ",
    "ウイルス",
    "ー",
]
_SEPS = [" ", "", "\n", "-", "\u2014", "・", "、", ". ", "_", "\u3000"]
_TERMS = ["AUKUS", '"pillar II"', '"pillar 2"', "第2の柱", "日本", "japan*", "ああ", "F35"]
_TERMS += ['"セキュリティ・クリアランス"', '"new new"', '"2 の"', '"aukus の"', "ガイ"]
_TERMS += ["セキュリティー", "ウィルス", "オカス"]


def _query(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 2 or r < 0.3:
        return rng.choice(_TERMS)
    if r < 0.45:
        return f"({_query(rng, depth + 1)} OR {_query(rng, depth + 1)})"
    if r < 0.6:
        return f"({_query(rng, depth + 1)} AND NOT {_query(rng, depth + 1)})"
    if r < 0.7:
        return f"{rng.choice(['title', 'lead'])}:{rng.choice(_TERMS)}"
    if r < 0.85:
        return f"({_positional(rng)} NEAR/{rng.randint(0, 6)} {_positional(rng)})"
    return f"ATLEAST({rng.randint(1, 4)}, {_positional(rng)})"


def _positional(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(_TERMS)
    return f"({rng.choice(_TERMS)} NEAR/{rng.randint(0, 4)} {rng.choice(_TERMS)})"


def test_naive_agrees_with_watcher_on_random_rules_and_documents() -> None:
    """Random queries over mixed Latin and Japanese text give the same hits in both matchers."""
    rng = random.Random(20_261_121)
    for _ in range(400):
        rules = [make_rule(_query(rng), f"r{k}") for k in range(5)]
        matcher, naive = compile_rules(rules), NaiveMatcher(rules)
        for _ in range(4):
            words = rng.randint(0, 25) if rng.random() < 0.8 else rng.randint(60, 200)
            text = "".join(rng.choice(_WORDS) + rng.choice(_SEPS) for _ in range(words))
            doc = Document(title=rng.choice(_WORDS), text=text, source="", url="")
            ours = {h.rule_id for h in match(matcher, doc)}
            assert set(naive.match(doc)) == ours, (doc, [r.query for r in rules])
