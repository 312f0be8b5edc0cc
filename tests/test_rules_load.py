"""Loading rule files: the contract, YAML 1.2 values, and located errors."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from watcher.config import load_config
from watcher.errors import ConfigError, RuleError
from watcher.rules.load import load_rules

GOOD = """\
id: pillar2-japan
name: Japan and AUKUS Pillar II
severity: high
query: >
  (AUKUS OR "Pillar II")
  AND (Japan OR 日本)
route: ["#aukus-alerts"]
examples: [seeds/a.txt]
counter_examples: []
enabled: true
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems(directory: Path) -> list[str]:
    with pytest.raises(RuleError) as info:
        load_rules(directory)
    return [str(p) for p in info.value.problems]


def test_loads_a_valid_rule(tmp_path: Path) -> None:
    """A file following the contract becomes a Rule with every field."""
    path = write(tmp_path, "p.yaml", GOOD)
    (rule,) = load_rules(tmp_path)
    assert rule.id == "pillar2-japan"
    assert rule.severity == "high"
    assert rule.query == '(AUKUS OR "Pillar II") AND (Japan OR 日本)\n'
    assert rule.route == ("#aukus-alerts",)
    assert rule.examples == (Path("seeds/a.txt"),)
    assert rule.counter_examples == ()
    assert rule.enabled is True
    assert rule.path == path
    assert len(rule.version) == 12


def test_optional_keys_have_defaults(tmp_path: Path) -> None:
    """route, examples, counter_examples and enabled may be omitted."""
    write(tmp_path, "r.yml", "id: r\nname: R\nseverity: low\nquery: japan\n")
    (rule,) = load_rules(tmp_path)
    assert (rule.route, rule.examples, rule.enabled) == (None, (), True)


def test_version_follows_the_definition(tmp_path: Path) -> None:
    """The version changes with the query but not with whitespace or the name."""
    write(tmp_path, "r.yaml", "id: r\nname: R\nseverity: low\nquery: japan  AND aukus\n")
    v1 = load_rules(tmp_path)[0].version
    write(tmp_path, "r.yaml", "id: r\nname: Other\nseverity: low\nquery: japan AND aukus\n")
    v2 = load_rules(tmp_path)[0].version
    write(tmp_path, "r.yaml", "id: r\nname: R\nseverity: low\nquery: japan OR aukus\n")
    v3 = load_rules(tmp_path)[0].version
    assert v1 == v2 != v3


def test_yaml_12_keeps_no_and_on_as_strings(tmp_path: Path) -> None:
    """`no` is a valid id string under YAML 1.2, not the boolean false."""
    write(tmp_path, "no.yaml", "id: no\nname: on\nseverity: low\nquery: off\n")
    (rule,) = load_rules(tmp_path)
    assert (rule.id, rule.name, rule.query) == ("no", "on", "off")


def test_enabled_on_is_not_a_boolean(tmp_path: Path) -> None:
    """`enabled: on` is rejected instead of silently read as true."""
    write(tmp_path, "r.yaml", "id: r\nname: R\nseverity: low\nquery: a\nenabled: on\n")
    assert problems(tmp_path) == [
        f"{tmp_path / 'r.yaml'}:5:10: bad enabled 'on': expected true or false"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: r\nname: R\nseverity: [\n", "invalid YAML"),
        ("- a\n- b\n", "1:1: expected a mapping with keys id, name, severity, query, found a list"),
        ("id: r\nname: R\nseverity: low\nquery: a\ncolour: red\n", "5:1: unknown key 'colour'"),
        ("id: r\nname: R\nseverity: low\n", "1:1: missing key 'query'"),
        ("id: Bad_Id\nname: R\nseverity: low\nquery: a\n", "1:5: bad id 'Bad_Id'"),
        ("id: 12\nname: R\nseverity: low\nquery: a\n", "1:5: bad id 12"),
        ("id: r\nname: R\nseverity: urgent\nquery: a\n", "3:11: bad severity 'urgent'"),
        ("id: r\nname: R\nseverity: on\nquery: a\n", "3:11: bad severity 'on'"),
        ("id: r\nname: ''\nseverity: low\nquery: a\n", "2:7: expected a non-empty text for 'name'"),
        ("id: r\nname: R\nseverity: low\nquery: a\nroute: [1]\n", "5:8: bad route a list"),
        ("id: r\nname: R\nseverity: low\nquery: a\nroute: ['a b']\n", "5:8: bad route"),
        (
            "id: r\nname: R\nseverity: low\nquery: a\nexamples: x.txt\n",
            "5:11: bad examples 'x.txt'",
        ),
        ("id: r\nname: R\nseverity: low\nquery: a\nid: s\n", "invalid YAML"),
    ],
)
def test_file_problems(tmp_path: Path, text: str, expected: str) -> None:
    """Each kind of bad rule file is reported with its position and reason."""
    write(tmp_path, "r.yaml", text)
    (problem,) = problems(tmp_path)
    assert problem.startswith(str(tmp_path / "r.yaml") + ":")
    assert expected in problem


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error points at the line and column ruamel reports."""
    write(tmp_path, "r.yaml", 'id: r\nname: "unterminated\nseverity: low\n')
    (problem,) = problems(tmp_path)
    assert problem.startswith(f"{tmp_path / 'r.yaml'}:4:1: invalid YAML")


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    """Two files with the same id are an error naming both places."""
    write(tmp_path, "a.yaml", "id: same\nname: A\nseverity: low\nquery: a\n")
    write(tmp_path, "b.yaml", "id: same\nname: B\nseverity: low\nquery: b\n")
    assert problems(tmp_path) == [
        f"{tmp_path / 'b.yaml'}:1:5: duplicate rule id 'same': already used in "
        f"{tmp_path / 'a.yaml'}:1"
    ]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    """Problems from several files and keys come back together."""
    write(tmp_path, "a.yaml", "id: A\nname: A\nseverity: bad\nquery: a\n")
    write(tmp_path, "b.yaml", "id: b\nname: B\nseverity: low\nquery: (a\n")
    found = problems(tmp_path)
    assert len(found) == 3
    assert [p.split(":")[1] for p in found] == ["1", "3", "4"]


def test_missing_directory(tmp_path: Path) -> None:
    """A rules directory that does not exist is a RuleError, not a crash."""
    assert problems(tmp_path / "nope") == [f"{tmp_path / 'nope'}:0:0: rules directory not found"]


def test_other_files_are_ignored(tmp_path: Path) -> None:
    """Only *.yaml and *.yml files are rule files."""
    write(tmp_path, "README.md", "not a rule")
    assert load_rules(tmp_path) == []


@pytest.mark.parametrize(
    ("query_yaml", "line", "col"),
    [
        ("query: a AND (b\n", 4, 16),
        ("query: 'a OR OR b'\n", 4, 14),
        ('query: "a OR OR b"\n', 4, 14),
        ("query: >\n  (a OR b)\n  AND c NEAR b OR\n", 6, 9),
        ("query: >\n  (a OR b)\n  AND url:x\n", 6, 7),
        ("query: |\n  a\n  b OR OR c\n", 6, 8),
        ("query: a OR\n  b OR OR c\n", 5, 8),
    ],
)
def test_query_errors_are_located_in_the_file(
    tmp_path: Path, query_yaml: str, line: int, col: int
) -> None:
    """A query syntax error names the file line and column, also inside block scalars."""
    write(tmp_path, "r.yaml", "id: r\nname: R\nseverity: low\n" + query_yaml)
    (problem,) = problems(tmp_path)
    assert problem.startswith(f"{tmp_path / 'r.yaml'}:{line}:{col}: query: ")


@pytest.mark.parametrize(
    ("route", "valid"),
    [
        ("#aukus-alerts", True),
        ("@analyst", True),
        ("C0123ABC", True),
        ("console", True),
        ("ops.team_2", True),
        ("ops channel", False),
        ("#", False),
        ("-leading-dash", False),
        ("#a/b", False),
    ],
)
def test_rules_and_config_accept_the_same_route_names(
    tmp_path: Path, route: str, valid: bool
) -> None:
    """A rule's `route` and the config's `ops_route` share one definition of a route name."""
    write(tmp_path, "r.yaml", f"id: r\nname: R\nseverity: low\nquery: a\nroute: ['{route}']\n")
    config = tmp_path / "watcher.toml"
    config.write_text(f"[alerts]\nops_route = '{route}'\n", encoding="utf-8")
    if valid:
        assert load_rules(tmp_path)[0].route == (route,)
        assert load_config(config, {}).alerts.ops_route == route
    else:
        assert "bad route" in problems(tmp_path)[0]
        with pytest.raises(ConfigError, match="ops_route must be a channel like"):
            load_config(config, {})
