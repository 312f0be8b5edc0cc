"""The search index on SQLite and PostgreSQL: migration backfill, retention, lookups.

Also the console's small pure helpers that guard what it shows: redaction
of secrets and `<mark>` highlighting with escaping.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from tests.console_helpers import NOW, seed, write_rules
from watcher.daemon.console.highlight import excerpts, marked
from watcher.daemon.console.redact import redact
from watcher.store.db import MIGRATIONS_DIR, create_db_engine, open_database, upgrade
from watcher.store.retention import prune_articles
from watcher.store.search_index import candidate_ids, search_ids
from watcher.text.normalize import skeleton_of


def _alembic(conn: object) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def test_the_migration_indexes_articles_stored_before_it(database_url: str) -> None:
    """Articles written at revision 0003 are in the index after upgrading to head
    (skeletons: the full-width title is found by its folded spelling); downgrade drops it."""
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic(conn), "0003")
            conn.execute(
                text("INSERT INTO stories (id, title, created_at) VALUES (1, 't', :n)"), {"n": NOW}
            )
            conn.execute(
                text(
                    "INSERT INTO articles (id, url, canonical_url, title, summary, text, outlet,"
                    " first_seen_at, extraction_status, content_hash, story_id) VALUES"
                    " (7, 'u', 'u', :title, '', :body, 'o', :n, 'ok', 'h', 1)"
                ),
                {
                    "title": "\uff21\uff35\uff2b\uff35\uff33 review",
                    "body": "Japan weighs Pillar II.",
                    "n": NOW,
                },
            )
        upgrade(engine)
        db = open_database(database_url)
        with db.session() as session:
            assert search_ids(session, ["aukus"], limit=10, offset=0).ids == (7,)
            assert search_ids(session, ["pillar ii"], limit=10, offset=0).ids == (7,)
            wide = ("and", ("aukus", ("or", ("japan", "korea"))))
            assert candidate_ids(session, wide, None) == {7}
            assert candidate_ids(session, ("and", ("aukus", "korea")), None) == set()
            assert candidate_ids(session, ("or", ("korea", "pillar ii")), None) == {7}
        db.dispose()
        with engine.begin() as conn:
            command.downgrade(_alembic(conn), "0003")
            tables = engine.dialect.get_table_names(conn)
            assert "article_search" not in tables
    finally:
        engine.dispose()


def test_retention_empties_the_indexed_text_but_keeps_the_title(
    database_url: str, tmp_path: Path
) -> None:
    """Once retention prunes an article, its text is no longer findable (the index keeps
    no pruned text) while its title still is."""
    db = open_database(database_url)
    try:
        seed(db, write_rules(tmp_path / "rules"))
        with db.session() as session:
            before = search_ids(session, ["undersea drones"], limit=10, offset=0)
            assert before.total == 1  # a7, 40 days old
        assert prune_articles(db, now=NOW, max_age=timedelta(days=30)) == 1
        with db.session() as session:
            assert search_ids(session, ["undersea drones"], limit=10, offset=0).total == 0
            assert search_ids(session, ["old talks"], limit=10, offset=0).ids == before.ids
    finally:
        db.dispose()


def test_candidates_respect_the_window_and_short_terms(database_url: str, tmp_path: Path) -> None:
    """`since` drops older articles; on SQLite a term under three characters cannot be
    looked up in the index: it is left out of the lookup (never narrowing wrongly) and
    checked by substring on the rows found; nothing to look up is None."""
    db = open_database(database_url)
    try:
        seed(db, write_rules(tmp_path / "rules"))
        with db.session() as session:
            every = candidate_ids(session, "aukus", None)
            recent = candidate_ids(session, "aukus", NOW - timedelta(days=30))
            assert every is not None
            assert recent is not None
            assert len(every) == len(recent) + 1  # a7 is 40 days old
            both = ("and", ("aukus", "日本"))
            japanese = candidate_ids(session, ("and", ("aukus", "日本政府")), None)
            assert japanese is not None
            assert len(japanese) == 1  # only the Japanese article holds both
            # With the conjunctive sets, the short term is checked on the rows found.
            assert candidate_ids(session, both, None, [["aukus"], ["日本"]]) == japanese
            if session.get_bind().dialect.name == "sqlite":
                # Without them, 日本 (two characters) cannot be looked up: it is left out.
                assert candidate_ids(session, both, None) == every
                assert candidate_ids(session, ("or", ("aukus", "日本")), None) is None
            else:
                assert candidate_ids(session, both, None) == japanese  # strpos: any length
            assert candidate_ids(session, None, None) is None
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("raw", "leaked"),
    [
        ("https://user:hunter22@feeds.example/rss", "hunter22"),
        ("GET https://x.example/feed?api_key=abc123XYZ&page=2", "abc123XYZ"),
        ("https://x.example/f?Signature=s1g&X-Amz-Credential=cred9", "s1g"),
        ("401 with Authorization: Bearer tok-9f8e7d", "tok-9f8e7d"),
        ("slack said invalid_auth for xoxb-1234-5678-abcdef", "xoxb-1234-5678-abcdef"),
        ("posting to https://hooks.slack.com/services/T0/B1/secretpath", "secretpath"),
        ("the configured secret s3cr3t-value appears", "s3cr3t-value"),
    ],
)
def test_redaction_removes_each_kind_of_secret(raw: str, leaked: str) -> None:
    """Each kind of secret is replaced by *** and the rest of the message stays readable."""
    cleaned = redact(raw, ["s3cr3t-value"])
    assert leaked not in cleaned
    assert "***" in cleaned
    kept = cleaned.split("***")[0]
    assert raw.startswith(kept)  # what precedes the secret is unchanged


def test_marks_are_the_only_markup_and_excerpts_keep_every_match() -> None:
    """Text around and inside the marks is escaped; overlapping spans merge; an excerpt
    is cut on spaces around each group of matches."""
    assert str(marked("<b>AUKUS</b> & Japan", [(3, 8), (15, 20), (17, 20)])) == (
        "&lt;b&gt;<mark>AUKUS</mark>&lt;/b&gt; &amp; <mark>Japan</mark>"
    )
    text = "word " * 60 + "AUKUS here " + "word " * 60 + "Japan there"
    start = text.index("AUKUS")
    parts = [str(p) for p in excerpts(text, [(start, start + 5), (len(text) - 11, len(text) - 6)])]
    assert len(parts) == 2
    assert parts[0].startswith("…word")
    assert "<mark>AUKUS</mark>" in parts[0]
    assert parts[1].endswith("<mark>Japan</mark> there")
    assert skeleton_of("\uff21\uff35\uff2b\uff35\uff33") == "aukus"
