"""What the judgments are for: per-rule stats, the exported corpus, /metrics, muting sources.

Each test runs on SQLite and on the PostgreSQL fixture (`database_url`). The
alerts are really posted (to the Slack stand-in) with their buttons, and
the clicks go through `FeedbackLoop.record`, as the Socket Mode handler does.

The scenario (rules per article; clicks in this order):

    article 1  aukus-japan              alice relevant, bob relevant
    article 2  aukus-japan, clearance   alice not relevant
    article 3  clearance                alice relevant, bob not relevant (a tie)
    article 4  aukus-japan              nobody
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from tests.dispatch_helpers import NOW, SPEC, FakeTime, article, dispatcher, seed
from tests.feedback_helpers import APP_TOKEN, BOT_TOKEN, click_payload, feedback_loop, post_alerts
from tests.support.slackstub import SlackStub
from watcher.alerts.feedback import parse_interaction
from watcher.alerts.slack import SlackBotSender
from watcher.cli.main import main
from watcher.daemon.console import judged_precision
from watcher.daemon.scrape import DatabaseCollector
from watcher.model import FeedbackAction
from watcher.rules.corpus import load_corpus
from watcher.store.db import Database, open_database
from watcher.store.judgments import not_relevant_streaks, rule_stats
from watcher.store.models import AlertFeedbackRow, AlertRow, ArticleRow
from watcher.store.retention import prune_articles

R, N = FeedbackAction.RELEVANT, FeedbackAction.NOT_RELEVANT
RULES = {
    "aukus-japan.yaml": "id: aukus-japan\nname: AUKUS\nseverity: high\nquery: AUKUS\n",
    "clearance.yaml": (
        'id: clearance\nname: Clearance\nseverity: medium\nquery: \'"text 2" OR "text 3"\'\n'
    ),
}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def sender(slack_stub: SlackStub) -> SlackBotSender:
    slack_stub.valid_tokens = {BOT_TOKEN, APP_TOKEN}
    return SlackBotSender(BOT_TOKEN, base_url=slack_stub.base_url)


def _judge(
    db: Database, sender: SlackBotSender, token: str, action: FeedbackAction, who: str
) -> None:
    payload = click_payload(token, action, user=f"U0{who.upper()}", username=who)
    report = feedback_loop(db, sender).record(parse_interaction(payload))
    assert report.judgments_new == 1


@pytest.fixture
def scenario(db: Database, sender: SlackBotSender) -> dict[int, str]:
    seed(db, [article(1), article(2, rules=("aukus-japan", "clearance"))])
    seed(db, [article(3, rules=("clearance",)), article(4)])
    report = dispatcher(db, sender, FakeTime(), pace=0.0, feedback=True).run()
    assert report.sent == 4
    with db.session() as session:
        tokens = dict(
            session.execute(
                select(AlertRow.article_id, AlertFeedbackRow.token).join(
                    AlertFeedbackRow, AlertFeedbackRow.alert_id == AlertRow.id
                )
            ).all()
        )
    for number, action, who in (
        (1, R, "alice"), (1, R, "bob"), (2, N, "alice"), (3, R, "alice"), (3, N, "bob"),
    ):  # fmt: skip
        _judge(db, sender, tokens[number], action, who)
    return tokens


def _config(tmp_path: Path, database_url: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    for name, text in RULES.items():
        (rules / name).write_text(text, encoding="utf-8")
    config = tmp_path / "watcher.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n[rules]\ndir = "{rules}"\n'
        f'[[sources]]\nname = "{SPEC.name}"\nurl = "{SPEC.url}"\n',
        encoding="utf-8",
    )
    return config


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_rules_stats_counts_alerts_verdicts_and_precision(
    db: Database, scenario: dict[int, str], tmp_path: Path, database_url: str
) -> None:
    with db.session() as session:
        stats = {s.rule_id: s.to_dict() for s in rule_stats(session, since=None, now=NOW)}
    assert stats == {
        "aukus-japan": {
            "rule": "aukus-japan", "alerts": 3, "judged": 2, "relevant": 2, "not_relevant": 1,
            "precision": 0.667, "trend": None,
        },
        "clearance": {
            "rule": "clearance", "alerts": 2, "judged": 2, "relevant": 1, "not_relevant": 2,
            "precision": 0.333, "trend": None,
        },
    }  # fmt: skip
    out = _cli(
        "rules",
        "stats",
        "--since",
        "3650d",
        "--json",
        "--config",
        str(_config(tmp_path, database_url)),
    )
    assert {row["rule"]: row for row in json.loads(out)} == stats


def test_the_console_shows_the_same_precision_as_rules_stats(
    db: Database, scenario: dict[int, str]
) -> None:
    """The console's precision column (wired when feedback is on) is `rules stats`'s."""
    precision = judged_precision(db, clock=lambda: NOW)
    assert precision("aukus-japan") == pytest.approx(2 / 3)
    assert precision("clearance") == pytest.approx(1 / 3)
    assert precision("no-such-rule") is None
    later = judged_precision(db, clock=lambda: NOW + timedelta(days=31))
    assert later("aukus-japan") is None  # outside its 30 days


def test_rules_stats_trend_and_period(db: Database, scenario: dict[int, str]) -> None:
    """Alert 1 posted 8 days earlier: the first half of a 10-day period is all relevant."""
    with db.session() as session:
        session.execute(
            update(AlertRow).where(AlertRow.article_id == 1).values(sent_at=NOW - timedelta(days=8))
        )
    with db.session() as session:
        ten_days = {
            s.rule_id: s for s in rule_stats(session, since=NOW - timedelta(days=10), now=NOW)
        }
        three_days = {
            s.rule_id: s for s in rule_stats(session, since=NOW - timedelta(days=3), now=NOW)
        }
    assert ten_days["aukus-japan"].trend == pytest.approx(-1.0)  # 2/2 relevant, then 0/1
    assert ten_days["clearance"].trend is None  # nothing judged in the first half
    assert three_days["aukus-japan"].alerts == 2  # alert 1 is outside the period
    assert three_days["aukus-japan"].precision == 0.0
    with db.session() as session:
        assert rule_stats(session, since=NOW + timedelta(days=1), now=NOW) == []


def test_judgments_export_as_a_corpus_rules_test_can_score(
    db: Database, scenario: dict[int, str], tmp_path: Path, database_url: str
) -> None:
    """docs/ID.txt with the header and the stored text; the verdicts per rule as labels."""
    config = _config(tmp_path, database_url)
    corpus_dir = tmp_path / "judged"
    out = _cli("feedback", "export", "--config", str(config), str(corpus_dir))
    assert "3 judged articles written" in out
    labels = json.loads((corpus_dir / "labels.json").read_text(encoding="utf-8"))
    assert labels == {
        "article-1": {"topics": ["aukus-japan"]},
        "article-2": {"topics": []},  # judged not relevant: a negative for both its rules
        "article-3": {"topics": [], "borderline_topics": ["clearance"]},  # a tie
    }
    doc = (corpus_dir / "docs" / "article-1.txt").read_text(encoding="utf-8")
    assert doc.startswith("Title: Story 1\nURL: http://127.0.0.1:9/a1\nPublished: 2026-11-20")
    assert doc.endswith("\n\nAUKUS text 1\n")
    corpus = load_corpus(corpus_dir)
    assert [d.document.title for d in corpus.docs] == ["Story 1", "Story 2", "Story 3"]
    result = CliRunner().invoke(
        main, ["rules", "test", "--corpus", str(corpus_dir), "--json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    scores = {s["rule"]: s for s in json.loads(result.output)["scores"]}
    assert (scores["aukus-japan"]["tp"], scores["aukus-japan"]["fp"]) == (1, 2)
    assert (scores["clearance"]["tp"], scores["clearance"]["fp"]) == (0, 1)
    assert scores["clearance"]["excluded"] == ["article-3"]


def test_judgments_outlive_retention_and_feedback_lists_them(
    db: Database, scenario: dict[int, str], tmp_path: Path, database_url: str
) -> None:
    """Retention prunes article 1's text: its judgments, stats and listing stay; the export
    leaves the textless article out and says so."""
    with db.session() as session:
        session.execute(
            update(ArticleRow)
            .where(ArticleRow.id == 1)
            .values(first_seen_at=NOW - timedelta(days=200))
        )
    assert prune_articles(db, now=NOW, max_age=timedelta(days=90)) == 1
    with db.session() as session:
        assert rule_stats(session, since=None, now=NOW)[0].relevant == 2
    config = _config(tmp_path, database_url)
    out = _cli("feedback", "export", "--config", str(config), str(tmp_path / "c"))
    assert "2 judged articles written" in out
    assert "1 left out" in out
    lines = _cli("feedback", "--json", "--config", str(config)).splitlines()
    listed = [json.loads(line) for line in lines]
    assert len(listed) == 5  # the judgments survive the pruned text
    assert {(j["analyst"], j["verdict"]) for j in listed if j["alert"] == 1} == {
        ("alice", "relevant"), ("bob", "relevant"),
    }  # fmt: skip
    only = [
        json.loads(line)
        for line in _cli(
            "feedback", "--rule", "clearance", "--json", "--config", str(config)
        ).splitlines()
    ]
    assert sorted(j["alert"] for j in only) == [2, 3, 3]


def test_metrics_export_judgments_per_rule(db: Database, scenario: dict[int, str]) -> None:
    families = {f.name: f for f in DatabaseCollector(db).collect()}
    samples = {
        (s.labels["rule"], s.labels["verdict"]): s.value
        for s in families["watcher_judgments"].samples
    }
    assert samples == {
        ("aukus-japan", "relevant"): 2,
        ("aukus-japan", "not_relevant"): 1,
        ("clearance", "relevant"): 1,
        ("clearance", "not_relevant"): 2,
    }


def test_a_source_judged_not_relevant_in_a_row_is_muted_with_one_command(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub, tmp_path: Path, database_url: str
) -> None:
    """Three not-relevant verdicts in a row show in `watcher sources`; `mute` sends the
    source's next alerts to the digest; `unmute` posts them one by one again."""
    tokens = post_alerts(db, sender, 1, 2, 3)
    for n in (1, 2, 3):
        _judge(db, sender, tokens[n], N, "alice")
    with db.session() as session:
        assert not_relevant_streaks(session) == {SPEC.name: 3}
    config = _config(tmp_path, database_url)
    (row,) = json.loads(_cli("sources", "--json", "--config", str(config)))
    assert (row["muted"], row["not_relevant_streak"]) == (False, 3)

    assert "muted Harbour Post" in _cli("sources", "mute", "--config", str(config), SPEC.name)
    (row,) = json.loads(_cli("sources", "--json", "--config", str(config)))
    assert row["muted"] is True
    posted = len(slack_stub.posts())
    seed(db, [article(4)])
    clock = FakeTime()
    run = dispatcher(db, sender, clock, pace=0.0, feedback=True)
    first = run.run()
    assert (first.sent, first.held) == (0, 1)  # held for the digest, not posted
    assert len(slack_stub.posts()) == posted
    assert run.digest(force=True).digests == 1  # the muted source's alert is in the digest
    assert "Story 4" in str(slack_stub.posts()[-1]["text"])

    assert "unmuted" in _cli("sources", "unmute", "--config", str(config), SPEC.name)
    seed(db, [article(5)])
    assert dispatcher(db, sender, FakeTime(), pace=0.0, feedback=True).run().sent == 1
    result = CliRunner().invoke(main, ["sources", "mute", "--config", str(config), "Nowhere"])
    assert result.exit_code == 2
    assert "no source named" in result.output
