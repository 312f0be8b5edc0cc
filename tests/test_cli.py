"""The command line: documented commands, exit codes, JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from watcher.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("command", _commands(main), ids=" ".join)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    """`--help` works for every command and shows an example invocation."""
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "watcher " in result.output.split("Example:")[1]


def test_usage_errors_exit_2() -> None:
    """An unknown option is a usage error (exit 2)."""
    assert CliRunner().invoke(main, ["hits", "--bogus"]).exit_code == 2
    assert CliRunner().invoke(main, ["hits", "--limit", "0"]).exit_code == 2


def test_rules_check_reports_file_line_col_and_exits_1(tmp_path: Path) -> None:
    """An invalid rule file gives `file:line:col: message` and exit code 1."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text("id: bad\nname: Bad\nseverity: high\nquery: (AUKUS AND\n")
    result = CliRunner().invoke(main, ["rules", "check", "--rules", str(rules)])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{rules / 'bad.yaml'}:4:")


def test_rules_check_passes_on_the_default_rules() -> None:
    """The shipped rules directory is valid and uses every term set it ships."""
    result = CliRunner().invoke(main, ["rules", "check", "--rules", str(ROOT / "rules")])
    assert result.exit_code == 0, result.output
    assert "4 rules and " in result.output
    assert "warning" not in result.output


def test_match_json_reports_each_seed_s_expected_rules() -> None:
    """`match --json` on the seeds lists at least the rules each seed's front matter names."""
    from watcher.text.document import read_text_document

    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    assert len(seeds) == 2
    result = CliRunner().invoke(
        main, ["match", "--json", "--rules", str(ROOT / "rules"), *map(str, seeds)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["input"] for line in lines] == [str(s) for s in seeds]
    for seed, line in zip(seeds, lines, strict=True):
        expected = set(read_text_document(seed).rules)
        assert expected, f"{seed} names no rules in its front matter"
        assert expected <= {hit["rule"] for hit in line["hits"]}
        assert line["title"]
        for hit in line["hits"]:
            assert set(hit) >= {"rule", "severity", "score", "matches", "snippet"}
            assert isinstance(hit["score"], float)
            for m in hit["matches"]:
                assert set(m) >= {"term", "start", "end"}
                assert isinstance(m["start"], int)
                assert m["end"] > m["start"]


def test_hits_and_sources_json_on_an_empty_database(tmp_path: Path) -> None:
    """`hits --json` prints nothing and `sources --json` one array, with the contract's keys."""
    config = tmp_path / "w.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/w.db"\n'
        '[[sources]]\nname = "A"\nurl = "https://a.example/feed"\n'
    )
    env = {"WATCHER_DATABASE_URL": ""}
    hits = CliRunner().invoke(main, ["hits", "--json", "--config", str(config)], env=env)
    assert hits.exit_code == 0, hits.output
    assert hits.output == ""
    sources = CliRunner().invoke(main, ["sources", "--json", "--config", str(config)], env=env)
    assert sources.exit_code == 0, sources.output
    data = json.loads(sources.output)
    assert len(data) == 1
    assert set(data[0]) >= {
        "name",
        "url",
        "kind",
        "status",
        "failures",
        "last_error",
        "next_poll",
        "articles",
    }
    assert data[0]["status"] == "not_polled"


def test_a_bad_config_value_exits_2_with_the_value(tmp_path: Path) -> None:
    """A config mistake is reported with the file and the offending value, exit code 2."""
    config = tmp_path / "w.toml"
    config.write_text("[fetch]\nper_host = -3\n")
    result = CliRunner().invoke(main, ["sources", "--config", str(config)])
    assert result.exit_code == 2
    assert "per_host must be positive, got -3" in result.output


def test_sources_says_when_alert_delivery_is_stopped_by_auth(tmp_path: Path) -> None:
    """Pending alerts that last failed on `invalid_auth` make `sources` say delivery stopped."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from watcher.config import load_config
    from watcher.model import (
        ArticleRecord,
        ExtractionStatus,
        FeedEntry,
        FetchOutcome,
        FetchResult,
        Hit,
    )
    from watcher.store.articles import save_poll
    from watcher.store.db import open_database
    from watcher.store.models import AlertRow
    from watcher.store.sources import sync_sources

    config = tmp_path / "w.toml"
    config.write_text('[[sources]]\nname = "A"\nurl = "https://a.example/feed"\n')
    url = f"sqlite:///{tmp_path}/w.db"
    db = open_database(url)
    now = datetime.now(UTC)
    with db.session() as session:
        sync_sources(session, load_config(config, {}).sources, now)
    record = ArticleRecord(
        entry=FeedEntry(key="k", url="https://a.example/1", title="t", summary="", published=None),
        url="https://a.example/1",
        canonical_url="https://a.example/1",
        title="t",
        text="x",
        summary="",
        outlet="a.example",
        published=None,
        extraction=ExtractionStatus.OK,
        extraction_reason=None,
        content_hash="h",
        hits=(Hit("r", "v", "high", 1.0, ()),),
        routes=("#c",),
    )
    with db.session() as session:
        save_poll(
            session,
            source_id=1,
            result=FetchResult("u", FetchOutcome.OK),
            records=[record],
            find_story=lambda _r: None,
            now=now,
        )
        session.execute(update(AlertRow).values(last_error="invalid_auth"))
    db.dispose()
    env = {"WATCHER_DATABASE_URL": url}
    result = CliRunner().invoke(main, ["sources", "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    assert "alert delivery stopped: invalid_auth (1 alerts kept pending)" in result.output
