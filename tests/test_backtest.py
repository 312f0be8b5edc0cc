"""Backtest: replaying edited rules over stored articles, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from watcher.cli.main import main
from watcher.model import (
    ArticleRecord,
    Document,
    ExtractionStatus,
    FeedEntry,
    FetchOutcome,
    FetchResult,
    Hit,
    SourceSpec,
)
from watcher.pipeline.backtest import BacktestResult, backtest
from watcher.rules.load import load_rules
from watcher.rules.match import compile_rules, match
from watcher.store.articles import save_poll
from watcher.store.db import Database, open_database
from watcher.store.models import SourceRow
from watcher.store.retention import prune_articles
from watcher.store.sources import sync_sources

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=120)  # older than retention: its text gets pruned
SPEC = SourceSpec(name="Harbour Post", url="http://127.0.0.1:9/feed.xml")
OK = FetchResult(url=SPEC.url, outcome=FetchOutcome.OK)

DEPLOYED = {
    "aukus-japan": "AUKUS AND Japan",
    "clearance": '"security clearance"',
}
EDITED = {
    "aukus-japan": "AUKUS AND (Japan OR Korea)",  # widened: Korea stories now alert
    "export-waivers": "ITAR AND exemption*",  # new
    # clearance: removed
}
# (key, title, text, story key, first seen): articles sharing a story key form one story.
ARTICLES = [
    ("a1", "Tokyo joins AUKUS talks", "AUKUS partners met Japan on Pillar II.", "s1", NOW),
    ("a2", "Japan and AUKUS, day two", "Japan and AUKUS agreed more trials.", "s1", NOW),
    ("a3", "Clearance law passes", "The security clearance bill passed.", "s3", NOW),
    ("a4", "Seoul eyes AUKUS", "AUKUS may work with Korea on autonomy.", "s4", NOW),
    ("a5", "Waivers widen", "ITAR exemptions now cover more allies.", "s5", NOW),
    ("a6", "Old talks in Tokyo", "AUKUS and Japan discussed hypersonics.", "s6", OLD),
]


def write_rules(directory: Path, queries: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for rule_id, query in queries.items():
        (directory / f"{rule_id}.yaml").write_text(
            f"id: {rule_id}\nname: {rule_id}\nseverity: high\nquery: '{query}'\n",
            encoding="utf-8",
        )
    return directory


def record(key: str, title: str, text: str, hits: tuple[Hit, ...]) -> ArticleRecord:
    url = f"http://127.0.0.1:9/{key}"
    return ArticleRecord(
        entry=FeedEntry(key=key, url=url, title=title, summary="", published=None),
        url=url,
        canonical_url=url,
        title=title,
        text=text,
        summary="",
        outlet="127.0.0.1",
        published=None,
        extraction=ExtractionStatus.OK,
        extraction_reason=None,
        content_hash=key,
        hits=hits,
        routes=("#a",) if hits else (),
    )


@pytest.fixture
def db(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """A database holding ARTICLES with the hits the deployed rules gave them."""
    database = open_database(database_url)
    matcher = compile_rules(load_rules(write_rules(tmp_path / "deployed", DEPLOYED)))
    with database.session() as session:
        sync_sources(session, [SPEC], OLD)
    with database.session() as session:
        source_id = session.scalar(select(SourceRow.id)) or 0
    stories: dict[str, int] = {}
    for key, title, text, story, seen in ARTICLES:
        hits = tuple(match(matcher, Document(title=title, text=text, source="127.0.0.1")))
        with database.session() as session:
            saved = save_poll(
                session,
                source_id=source_id,
                result=OK,
                records=[record(key, title, text, hits)],
                find_story=lambda _r, story=story: stories.get(story),
                now=seen,
            )
        stories.setdefault(story, saved[0].story_id)
    assert prune_articles(database, now=NOW) == 1  # a6 keeps only its title
    yield database
    database.dispose()


def by_rule(result: BacktestResult) -> dict[str, tuple[str, list[str], list[str]]]:
    """rule -> (status, titles of added stories, titles of removed stories)."""
    return {
        r.rule_id: (r.status, [c.title for c in r.added], [c.title for c in r.removed])
        for r in result.rules
    }


def test_backtest_reports_added_removed_new_and_changed_rules(db: Database, tmp_path: Path) -> None:
    """Edited rules show the stories that would start and stop alerting, per rule, with status."""
    deployed = load_rules(tmp_path / "deployed")
    edited = load_rules(write_rules(tmp_path / "edited", EDITED))
    result = backtest(db, edited, baseline=deployed)
    assert by_rule(result) == {
        "aukus-japan": ("changed", ["Seoul eyes AUKUS"], ["Old talks in Tokyo"]),
        "clearance": ("removed", [], ["Clearance law passes"]),
        "export-waivers": ("new", ["Waivers widen"], []),
    }
    assert (result.articles, result.pruned, result.added, result.removed) == (6, 1, 2, 2)
    aukus = result.rules[0]
    assert aukus.stored_stories == 2  # a1 and a2 are one story
    assert aukus.stored_versions == (deployed[0].version,)
    assert aukus.version == edited[0].version != deployed[0].version
    assert aukus.removed[0].pruned  # matched on the title alone after pruning
    assert not aukus.added[0].pruned
    assert aukus.added[0].url == "http://127.0.0.1:9/a4"


def test_unchanged_rules_give_no_changes_except_pruned_text(db: Database, tmp_path: Path) -> None:
    """Replaying the deployed rules changes nothing but what pruning hid, and says so."""
    deployed = load_rules(tmp_path / "deployed")
    result = backtest(db, deployed, baseline=deployed)
    assert by_rule(result) == {
        "aukus-japan": ("unchanged", [], ["Old talks in Tokyo"]),
        "clearance": ("unchanged", [], []),
    }
    assert result.rules[0].removed[0].pruned


def test_since_limits_the_replay_and_the_stored_hits(db: Database, tmp_path: Path) -> None:
    """With a window, articles first seen before it count on neither side."""
    deployed = load_rules(tmp_path / "deployed")
    result = backtest(db, deployed, since=NOW - timedelta(days=30), baseline=deployed)
    assert (result.articles, result.pruned, result.removed) == (5, 0, 0)


def test_without_a_baseline_the_stored_hits_decide_what_is_new(
    db: Database, tmp_path: Path
) -> None:
    """Without the deployed rules, a rule id with no stored hit is new and a changed version
    is detected from the versions stored with the hits."""
    result = backtest(db, load_rules(write_rules(tmp_path / "edited", EDITED)))
    statuses = {r.rule_id: r.status for r in result.rules}
    assert statuses == {"aukus-japan": "changed", "clearance": "removed", "export-waivers": "new"}


def _config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "watcher.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n\n[rules]\ndir = "deployed"\n', encoding="utf-8"
    )
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WATCHER_CONFIG", "WATCHER_DATABASE_URL", "WATCHER_RULES_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_env")
def test_cli_prints_one_json_object_when_piped(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """`watcher backtest --json` prints the diff as one JSON object and exits 0."""
    edited = write_rules(tmp_path / "edited", EDITED)
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "--json",
            "--since",
            "365d",
            "--rules",
            str(edited),
            "--config",
            str(_config(tmp_path, database_url)),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {
        "rules_dir",
        "since",
        "articles",
        "pruned_articles",
        "added",
        "removed",
        "rules",
    }
    assert data["rules_dir"] == str(edited)
    assert data["since"].endswith("Z")
    assert (data["articles"], data["pruned_articles"]) == (6, 1)
    rules = {r["rule"]: r for r in data["rules"]}
    assert [r["status"] for r in rules.values()] == ["changed", "removed", "new"]
    aukus = rules["aukus-japan"]
    assert aukus["version_changed"] is True
    assert set(aukus) == {
        "rule",
        "status",
        "version",
        "version_changed",
        "stored_versions",
        "stored_stories",
        "replayed_stories",
        "added",
        "removed",
    }
    added = aukus["added"][0]
    assert set(added) == {"story", "article", "title", "url", "articles", "pruned"}
    assert isinstance(added["story"], int)
    assert (added["title"], added["url"]) == ("Seoul eyes AUKUS", "http://127.0.0.1:9/a4")
    assert rules["clearance"]["removed"][0]["title"] == "Clearance law passes"


@pytest.mark.usefixtures("clean_env")
def test_cli_rejects_invalid_rules_with_file_line_col(database_url: str, tmp_path: Path) -> None:
    """An invalid rules directory exits 2 with `file:line:col: message`, touching no data."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.yaml").write_text("id: broken\nname: B\nseverity: high\nquery: (AUKUS AND\n")
    result = CliRunner().invoke(
        main,
        ["backtest", "--rules", str(bad), "--config", str(_config(tmp_path, database_url))],
    )
    assert result.exit_code == 2
    assert f"{bad / 'broken.yaml'}:4:" in result.output


@pytest.mark.usefixtures("clean_env")
def test_cli_rejects_a_bad_duration(database_url: str, tmp_path: Path) -> None:
    """A malformed --since is a usage error (exit 2)."""
    result = CliRunner().invoke(
        main, ["backtest", "--since", "soon", "--config", str(_config(tmp_path, database_url))]
    )
    assert result.exit_code == 2
