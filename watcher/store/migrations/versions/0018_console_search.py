"""The console's search index: `article_search`, the skeletons of each article's fields.

One row per article: the *skeleton* (see `watcher.text.normalize`) of its
title and of the text the rules match (the extracted text, else the feed
summary). It serves two readers:

* `/search` (full-text search): SQLite FTS5 with the trigram tokenizer, so
  Japanese (no spaces) is searchable by substring like English; PostgreSQL
  full-text search on `to_tsvector('simple', ...)` through a GIN index.
* `/rules/preview`: a term of the query occurs in an article only if its
  skeleton is a substring of the indexed skeleton, so the articles found by
  the query's required terms are a superset of those the matcher can match.

On SQLite the table is an FTS5 table keyed by the article id (rowid); on
PostgreSQL a plain table. Existing articles are indexed here, with the
matcher's own field preparation, so the index equals what the rules see.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500


def upgrade() -> None:
    # The matcher's fast field preparation: the same skeleton as `skeleton_of`
    # (tests/test_rules_fields.py), 30 times faster on a large backfill.
    from watcher.rules.fields import PreparedField
    from watcher.store.search_index import create_index_table, index_rows

    bind = op.get_bind()
    create_index_table(bind)
    last_id = 0
    articles = sa.table(
        "articles",
        sa.column("id", sa.Integer),
        sa.column("title", sa.Text),
        sa.column("summary", sa.Text),
        sa.column("text", sa.Text),
    )
    while True:
        rows = bind.execute(
            sa.select(articles.c.id, articles.c.title, articles.c.summary, articles.c.text)
            .where(articles.c.id > last_id)
            .order_by(articles.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        index_rows(
            bind,
            [(r.id, r.title, r.summary if r.text is None else r.text) for r in rows],
            skeleton=lambda text: PreparedField(text).skeleton,
        )
        last_id = rows[-1].id


def downgrade() -> None:
    op.execute("DROP TABLE article_search")
