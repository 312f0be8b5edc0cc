"""`rules why` and `rules suggest`: clause verdicts, near misses, candidate terms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.rules_helpers import make_rule
from watcher.cli.main import main
from watcher.model import Document
from watcher.rules.corpus import load_corpus
from watcher.rules.load import load_rules_and_sets
from watcher.rules.suggest import candidates_of, suggest_terms
from watcher.rules.why import explain_rule, within_one

AUKUS_SET = "terms:\n  - AUKUS\n  - オーカス\n  - オークス\n"


def why(query: str, text: str, title: str = "") -> dict[str, object]:
    return explain_rule(make_rule(query), Document(title=title, text=text)).to_dict()


def kinds(report: dict[str, object]) -> list[str]:
    clauses = report["clauses"]
    assert isinstance(clauses, list)
    return [m["kind"] for c in clauses for m in c["near_misses"]]


def test_each_clause_gets_a_verdict_and_the_terms_found() -> None:
    """A matching rule: every top clause holds, with the occurrences as written."""
    report = why("AUKUS AND (Japan OR Tokyo)", "Japan and AUKUS; Tokyo agrees.")
    assert report["matched"] is True
    clauses = report["clauses"]
    assert isinstance(clauses, list)
    assert [c["clause"] for c in clauses] == ["AUKUS", "(Japan OR Tokyo)"]
    assert all(c["matched"] for c in clauses)
    assert [(f["term"], f["text"], f["start"]) for f in clauses[1]["found"]] == [
        ("Japan", "Japan", 0),
        ("Tokyo", "Tokyo", 17),
    ]
    assert kinds(report) == []


@pytest.mark.parametrize(
    ("query", "text", "kind", "detail"),
    [
        (
            "AUKUS NEAR/3 Japan",
            "AUKUS one two three four five Japan",
            "too-far",
            "6 words apart (NEAR/3",
        ),
        ("ATLEAST(3, Japan)", "Japan and Japan", "too-few", "occurs 2 times"),
        ("title:Japan", "Japan in the text only", "outside-scope", "not in the title"),
        ("lead:Japan", "word " * 130 + "Japan", "outside-scope", "first at word 130"),
        ("Korea", "Koreans said", "inside-word", "inside the word 'koreans'"),
        ("waiver", "two waivers", "variant", "'waivers' is one letter away"),
        ("defence", "US defense", "variant", "'defense'"),
        ("オーカス", "日本とオークスの協力", "variant", "'オクス'"),
    ],
)
def test_near_misses(query: str, text: str, kind: str, detail: str) -> None:
    """What almost matched is named, with what the document has."""
    report = why(query, text)
    assert report["matched"] is False
    clauses = report["clauses"]
    assert isinstance(clauses, list)
    misses = [m for c in clauses for m in c["near_misses"]]
    assert any(m["kind"] == kind and detail in m["detail"] for m in misses), misses


def test_a_variant_miss_points_at_the_document_text() -> None:
    """A near miss carries offsets into the original text and the text there."""
    text = "日本とオークスの協力"
    (clause,) = why("オーカス", text)["clauses"]  # type: ignore[misc]
    (miss,) = clause["near_misses"]
    assert text[miss["start"] : miss["end"]] == miss["text"] == "オークス"


def test_another_member_of_a_set_is_a_near_miss(tmp_path: Path) -> None:
    """A bare term that a set spells otherwise: the other spelling found is named."""
    rules = tmp_path / "rules"
    (rules / "terms").mkdir(parents=True)
    (rules / "terms" / "aukus.yaml").write_text(AUKUS_SET, encoding="utf-8")
    (rules / "r.yaml").write_text("id: r\nname: R\nseverity: low\nquery: AUKUS OR @aukus\n")
    (rules / "s.yaml").write_text("id: s\nname: S\nseverity: low\nquery: AUKUS\n")
    loaded, sets = load_rules_and_sets(rules)
    bare = next(r for r in loaded if r.id == "s")
    report = explain_rule(bare, Document(title="", text="日本とオーカス"), sets).to_dict()
    assert report["matched"] is False
    (clause,) = report["clauses"]  # type: ignore[misc]
    (miss,) = [m for m in clause["near_misses"] if m["kind"] == "other-member"]
    assert miss["text"] == "オーカス"
    assert "use @aukus" in miss["detail"]


def test_a_missing_set_is_named_once(tmp_path: Path) -> None:
    """A set none of whose members occurs is listed by its name, not member by member."""
    rules = tmp_path / "rules"
    (rules / "terms").mkdir(parents=True)
    (rules / "terms" / "aukus.yaml").write_text(AUKUS_SET, encoding="utf-8")
    (rules / "r.yaml").write_text("id: r\nname: R\nseverity: low\nquery: '@aukus AND Japan'\n")
    (rule,), sets = load_rules_and_sets(rules)
    report = explain_rule(rule, Document(title="", text="Japan only"), sets).to_dict()
    first, second = report["clauses"]  # type: ignore[misc]
    assert (first["matched"], first["missing"]) == (False, ["@aukus"])
    assert (second["matched"], second["missing"]) == (True, [])


def test_one_edit() -> None:
    """Substitution, insertion and deletion are one edit; two are not."""
    assert within_one("オカス", "オクス")
    assert within_one("waiver", "waivers")
    assert within_one("waivers", "waiver")
    assert not within_one("abc", "abcde")
    assert not within_one("abcd", "abdc")


def test_rules_why_cli_json(tmp_path: Path) -> None:
    """`rules why RULE --json FILE...`: one object per input, errors per input."""
    rules = tmp_path / "rules"
    (rules / "terms").mkdir(parents=True)
    (rules / "terms" / "aukus.yaml").write_text(AUKUS_SET, encoding="utf-8")
    (rules / "jp.yaml").write_text(
        "id: jp\nname: JP\nseverity: high\nquery: '@aukus AND ATLEAST(2, 日本)'\n"
    )
    doc = tmp_path / "a.txt"
    doc.write_text("Title: 見出し\n\n日本とオークスの協力。\n", encoding="utf-8")
    args = ["rules", "why", "jp", "--json", "--rules", str(rules), str(doc), "missing.txt"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first["input"] == str(doc)
    assert first["rule"] == "jp"
    assert first["matched"] is False
    assert [c["matched"] for c in first["clauses"]] == [True, False]
    assert first["clauses"][1]["near_misses"][0]["kind"] == "too-few"
    assert "missing.txt" in second["error"]


def test_rules_why_unknown_rule_exits_2(tmp_path: Path) -> None:
    """An unknown rule id is a usage error naming the known ids, never a traceback."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "jp.yaml").write_text("id: jp\nname: JP\nseverity: high\nquery: Japan\n")
    result = CliRunner().invoke(main, ["rules", "why", "nope", "--rules", str(rules), "x.txt"])
    assert result.exit_code == 2
    assert "unknown rule 'nope': expected one of jp" in result.output
    assert "Traceback" not in result.output


def make_corpus(root: Path, docs: dict[str, str], labels: dict[str, object]) -> Path:
    (root / "docs").mkdir(parents=True)
    for doc_id, text in docs.items():
        (root / "docs" / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    (root / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    return root


CORPUS_DOCS = {
    "p1": "日本とオーカスが協力。",  # matched
    "p2": "日本とオークスが協力。オークスの枠組み。",  # missed: another spelling
    "p3": "Japan joins the Aukus-style ピラー2 projects; オークス again.",  # missed
    "n1": "オーカスと潜水艦。経済協力の話。",
    "n2": "日本の経済協力。",
}
CORPUS_LABELS = {
    "p1": {"topics": ["r"]},
    "p2": {"topics": ["r"]},
    "p3": {"topics": ["r"]},
    "n1": {"topics": []},
    "n2": {"topics": []},
}


def test_suggest_finds_variants_in_missed_positives(tmp_path: Path) -> None:
    """Terms of the missed positives, rare in negatives, come with counts and the
    rule term they vary; words of the negatives are left out."""
    corpus = load_corpus(make_corpus(tmp_path, CORPUS_DOCS, CORPUS_LABELS))
    report = suggest_terms(make_rule("オーカス"), corpus)
    assert report.missed == ("p2", "p3")
    assert report.negatives == 2
    top = report.candidates[0]
    assert (top.term, top.lang, top.missed, top.occurrences, top.negatives) == (
        "オークス",
        "ja",
        2,
        3,
        0,
    )
    assert top.variant_of == "オーカス"
    terms = {c.term for c in report.candidates}
    assert "オーカス" not in terms  # already a rule term
    assert "協力" not in terms  # in every negative
    assert "japan" in terms  # one missed positive is enough when there are two


def test_candidates_of_a_text() -> None:
    """Words, phrases, katakana loan words and kanji runs; no stop words."""
    found = candidates_of("The ITAR waiver was signed. 防衛装備庁とピラー・ツー")
    assert {"ITAR", "waiver", "itar waiver", "ピラー・ツー", "防衛装備庁", "防衛"} <= set(found)
    assert "the" not in found
    assert "was" not in found


def test_rules_suggest_cli(tmp_path: Path) -> None:
    """`rules suggest RULE --corpus DIR --json`: the candidates with their counts."""
    corpus = make_corpus(tmp_path / "corpus", CORPUS_DOCS, CORPUS_LABELS)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text("id: r\nname: R\nseverity: low\nquery: オーカス\n")
    args = ["rules", "suggest", "r", "--json", "--rules", str(rules), "--corpus", str(corpus)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["rule"] == "r"
    assert out["missed"] == ["p2", "p3"]
    assert out["candidates"][0] == {
        "term": "オークス",
        "lang": "ja",
        "missed": 2,
        "occurrences": 3,
        "negatives": 0,
        "variant_of": "オーカス",
    }
    missing = CliRunner().invoke(main, ["rules", "suggest", "r", "--rules", str(rules)])
    assert missing.exit_code == 2  # --corpus is required
