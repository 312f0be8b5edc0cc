"""Term sets: `rules/terms/NAME.yaml` used as `@NAME`, versions, located errors."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner

from watcher.cli.main import main
from watcher.errors import RuleError
from watcher.model import Document
from watcher.rules import compile_rules, match
from watcher.rules.load import load_rules, load_rules_and_sets

AUKUS_SET = """\
description: the pact
terms:
  - AUKUS      # English
  - オーカス    # Japanese press
  - '"trilateral security pact"'
"""

JAPAN_SET = """\
terms:
  - Japan
  - 日本
"""


def make_dir(
    tmp_path: Path, query: str, sets: dict[str, str] | None = None, rule_id: str = "r"
) -> Path:
    rules = tmp_path / "rules"
    (rules / "terms").mkdir(parents=True, exist_ok=True)
    folded = "\n".join("  " + line for line in dedent(query).strip().splitlines())
    (rules / f"{rule_id}.yaml").write_text(
        f"id: {rule_id}\nname: R\nseverity: high\nquery: >\n{folded}\n", encoding="utf-8"
    )
    for name, text in (sets if sets is not None else {"aukus": AUKUS_SET}).items():
        (rules / "terms" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return rules


def problems(rules: Path) -> list[str]:
    with pytest.raises(RuleError) as info:
        load_rules(rules)
    return [str(p) for p in info.value.problems]


def hit_ids(rules: Path, text: str, title: str = "") -> set[str]:
    matcher = compile_rules(load_rules(rules))
    return {h.rule_id for h in match(matcher, Document(title=title, text=text))}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Japan weighs AUKUS role", True),
        ("日本はオーカスの枠組みに", True),
        ("Japan and the trilateral security pact", True),
        ("Japan and the trilateral pact", False),
        ("AUKUS without the country", False),
    ],
)
def test_a_set_matches_any_of_its_members(tmp_path: Path, text: str, expected: bool) -> None:
    """`@aukus` is the OR of its members, in either script."""
    rules = make_dir(tmp_path, "@aukus AND @japan", {"aukus": AUKUS_SET, "japan": JAPAN_SET})
    assert (hit_ids(rules, text) == {"r"}) is expected


@pytest.mark.parametrize(
    ("query", "text", "title", "expected"),
    [
        ("@aukus NEAR/2 Japan", "AUKUS and Japan", "", True),
        ("@aukus NEAR/2 Japan", "オーカス, then many words in between here, Japan", "", False),
        ("ATLEAST(2, @aukus)", "AUKUS and オーカス", "", True),
        ("ATLEAST(3, @aukus)", "AUKUS and オーカス", "", False),
        ("title:@aukus", "AUKUS", "", False),
        ("title:@aukus", "", "オーカス", True),
        ("lead:@aukus", "AUKUS", "", True),
    ],
)
def test_a_set_stands_wherever_a_term_can(
    tmp_path: Path, query: str, text: str, title: str, expected: bool
) -> None:
    """Sets work under NEAR, ATLEAST, title: and lead:."""
    rules = make_dir(tmp_path, query)
    assert (hit_ids(rules, text, title) == {"r"}) is expected


def test_hits_name_the_member_that_occurred(tmp_path: Path) -> None:
    """Evidence shows the variant found, not the set name."""
    rules = make_dir(tmp_path, "@aukus")
    (hit,) = match(compile_rules(load_rules(rules)), Document(title="", text="日本とオーカス"))
    assert [m.term for m in hit.matches] == ["オーカス"]
    assert hit.clauses == ("@aukus",)


def test_the_rule_version_covers_the_sets_it_uses(tmp_path: Path) -> None:
    """Editing a set changes the version of the rules that use it (and hits record it)."""
    rules = make_dir(tmp_path, "@aukus")
    (before,) = load_rules(rules)
    assert [name for name, _ in before.term_sets] == ["aukus"]
    (rules / "terms" / "aukus.yaml").write_text("terms: [AUKUS, オークス]\n", encoding="utf-8")
    (after,) = load_rules(rules)
    assert after.version != before.version
    assert after.term_sets[0][1] != before.term_sets[0][1]
    (hit,) = match(compile_rules([after]), Document(title="", text="オークス"))
    assert hit.rule_version == after.version


def test_an_unknown_set_is_located_in_the_rule_file(tmp_path: Path) -> None:
    """`@nope` is an error at its line and column, naming the sets that exist."""
    rules = make_dir(tmp_path, "AUKUS\nAND @nope")
    (problem,) = problems(rules)
    assert problem.startswith(f"{rules / 'r.yaml'}:6:7: query: unknown term set '@nope'")
    assert "@aukus" in problem


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("terms:\n  - AUKUS\n  - (Japan AND\n", "3:15", "term: expected a term"),
        ("terms:\n  - AUKUS\n  - NOT Japan\n", "3:5", "'NOT Japan' is not a term"),
        ("terms:\n  - '@other'\n", "2:6", "a term set cannot use another term set"),
        ("terms: []\n", "1:8", "expected a non-empty list of terms"),
        ("terms: [AUKUS]\nnotes: x\n", "2:1", "unknown key 'notes'"),
        ("words: [AUKUS]\n", "1:1", "expected a mapping with a 'terms' list"),
        ("terms: [AUKUS\n", "2:1", "invalid YAML"),
        ("terms:\n  - 3\n", "2:5", "expected a term, found 3"),
    ],
)
def test_bad_sets_are_located_in_the_set_file(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    """A set file's problems are reported as terms/NAME.yaml:line:col: message."""
    rules = make_dir(tmp_path, "AUKUS", {"bad": text})
    found = problems(rules)
    assert any(p.startswith(f"{rules / 'terms' / 'bad.yaml'}:{where}: ") for p in found), found
    assert any(message in p for p in found), found


def test_a_set_file_name_must_be_a_set_name(tmp_path: Path) -> None:
    """The file name is the set name: upper case or spaces are refused."""
    rules = make_dir(tmp_path, "AUKUS", {"Bad Name": "terms: [x]\n"})
    (problem,) = problems(rules)
    assert "bad term set file name 'Bad Name.yaml'" in problem


def test_rules_check_warns_about_unused_sets_and_fails_on_unknown(tmp_path: Path) -> None:
    """`rules check`: an unused set is a located warning (exit 0); an unknown one fails (1)."""
    rules = make_dir(tmp_path, "@aukus", {"aukus": AUKUS_SET, "japan": JAPAN_SET})
    ok = CliRunner().invoke(main, ["rules", "check", "--rules", str(rules)])
    assert ok.exit_code == 0, ok.output
    japan = rules / "terms" / "japan.yaml"
    assert f"{japan}:1:1: warning: term set '@japan' is not used by any rule" in ok.output
    assert "1 rules and 2 term sets OK" in ok.output
    bad = make_dir(tmp_path / "b", "@aukus AND @japon")
    failed = CliRunner().invoke(main, ["rules", "check", "--rules", str(bad)])
    assert failed.exit_code == 1
    assert f"{bad / 'r.yaml'}:5:14: query: unknown term set '@japon'" in failed.output


def test_a_rules_dir_without_terms_still_loads(tmp_path: Path) -> None:
    """Sets are optional: no terms/ folder means none."""
    (tmp_path / "r.yaml").write_text("id: r\nname: R\nseverity: low\nquery: x\n")
    rules, sets = load_rules_and_sets(tmp_path)
    assert [r.id for r in rules] == ["r"]
    assert sets == {}


def test_match_json_gives_the_rule_version_with_its_sets(tmp_path: Path) -> None:
    """`match --json` reports each hit's rule version, which changes with its sets."""
    import json

    rules = make_dir(tmp_path, "@aukus")
    doc = tmp_path / "a.txt"
    doc.write_text("日本とオーカス\n", encoding="utf-8")
    args = ["match", "--json", "--rules", str(rules), str(doc)]
    first = json.loads(CliRunner().invoke(main, args).output)["hits"][0]
    (rules / "terms" / "aukus.yaml").write_text("terms: [オーカス, オークス]\n", encoding="utf-8")
    second = json.loads(CliRunner().invoke(main, args).output)["hits"][0]
    assert first["version"] == load_rules(make_dir(tmp_path / "x", "@aukus"))[0].version
    assert second["version"] != first["version"]
