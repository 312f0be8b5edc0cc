"""The search index: each article's title and matched text as skeletons, for the console.

`article_search` holds, per article, the *skeleton* (`watcher.text.normalize`)
of its title and of its body (the extracted text, else the feed summary:
what the rules match, `pipeline.backtest.document_of`). Two readers:

* **Rule preview prefilter** (`candidate_ids`): a query term can occur in an
  article only if the term's skeleton is a substring of the article's title
  or body skeleton. The query's terms combined as the query combines them
  (AND, OR; NOT asks nothing) are a necessary condition, so the articles that
  satisfy it in the index are a *superset* of those the matcher can match,
  and the exact matcher only has to run on them. SQLite answers with FTS5
  (trigram tokenizer: a quoted string is a substring search; strings under
  three characters cannot use it and are left out of the lookup, which only
  widens it, then checked with `instr` on the rows found); PostgreSQL with
  `strpos` over the index table (a sequential scan of the skeletons).
* **Full-text search** (`search_ids`): SQLite FTS5 (trigram: substrings, so
  Japanese, written without spaces, is searchable like English) ranked by
  bm25; PostgreSQL full-text search (`to_tsvector('simple', ...)`, GIN index,
  `phraseto_tsquery`, ranked by `ts_rank`), with `strpos` for terms in
  scripts written without spaces, which its parser does not split.

Rows are written with the article (`store.articles.save_poll`) and emptied
of their body when retention prunes the article's text (`clear_bodies`), so
the index never keeps text that retention removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from watcher.text.normalize import is_nospace_char, skeleton_of

__all__ = [
    "SearchPage",
    "candidate_ids",
    "clear_bodies",
    "create_index_table",
    "index_rows",
    "modelled",
    "search_ids",
]

TRIGRAM = 3  # FTS5's trigram tokenizer cannot look up shorter strings
TABLE = "article_search"
_CHUNK = 500

Skeleton = Callable[[str], str]


def modelled(name: str | None, type_: str, _parents: object = None) -> bool:
    """Alembic's `include_name` filter: False for the index table, its FTS5 shadow
    tables and its index, which the migration creates and `store.models` does not
    model (an FTS5 virtual table has no ORM form), so schema comparisons skip them."""
    return not (name or "").startswith(TABLE) and name != "ix_article_search_tsv"


def create_index_table(conn: Connection) -> None:
    """Create the empty `article_search` table for this backend (used by the migration)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE article_search USING fts5(title, body, tokenize='trigram')"
        )
        return
    conn.exec_driver_sql(
        "CREATE TABLE article_search ("
        " article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,"
        " title TEXT NOT NULL, body TEXT NOT NULL)"
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_article_search_tsv ON article_search "
        "USING gin (to_tsvector('simple'::regconfig, title || ' ' || body))"
    )


def index_rows(
    conn: Connection,
    rows: Iterable[tuple[int, str, str]],
    *,
    skeleton: Skeleton = skeleton_of,
) -> None:
    """Index `(article id, title, body)` rows; `body` is what the rules match.

    `skeleton` must give `watcher.text.normalize.skeleton_of`'s result; the
    pipeline passes the matcher's faster equivalent.
    """
    values = [
        {"id": article_id, "title": skeleton(title), "body": skeleton(body)}
        for article_id, title, body in rows
    ]
    if not values:
        return
    key = "rowid" if conn.dialect.name == "sqlite" else "article_id"
    conn.execute(
        text(f"INSERT INTO article_search ({key}, title, body) VALUES (:id, :title, :body)"),
        values,
    )


def clear_bodies(conn: Connection, article_ids: Sequence[int]) -> None:
    """Forget the body of pruned articles (retention removed their text); titles stay."""
    key = "rowid" if conn.dialect.name == "sqlite" else "article_id"
    for i in range(0, len(article_ids), _CHUNK):
        chunk = list(article_ids[i : i + _CHUNK])
        marks = ", ".join(f":i{n}" for n in range(len(chunk)))
        conn.execute(
            text(f"UPDATE article_search SET body = '' WHERE {key} IN ({marks})"),
            {f"i{n}": v for n, v in enumerate(chunk)},
        )


def _fts_string(pattern: str) -> str:
    """`pattern` as an FTS5 string (a substring search under the trigram tokenizer)."""
    return '"' + pattern.replace('"', '""') + '"'


# A condition on which skeleton patterns occur: a pattern, ("and" | "or", parts), or
# None for "no condition" (`watcher.rules.match.presence_formula` builds it).
Presence = str | tuple[str, tuple["Presence", ...]] | None


def _render(presence: Presence, leaf: Callable[[str], str | None]) -> str | None:
    """`presence` as a query text, each pattern rendered by `leaf`; None means "no
    condition", and propagates as it must: dropped from an AND, absorbing an OR."""
    if presence is None:
        return None
    if isinstance(presence, str):
        return leaf(presence)
    operator, parts = presence
    rendered = [_render(p, leaf) for p in parts]
    if operator == "and":
        kept = [r for r in rendered if r is not None]
        return None if not kept else "(" + " AND ".join(kept) + ")"
    if any(r is None for r in rendered):
        return None
    return "(" + " OR ".join(r for r in rendered if r is not None) + ")"


def _fts_expression(presence: Presence) -> str | None:
    """`presence` as an FTS5 query; patterns under three characters, which the
    trigram index cannot look up, count as "no condition" (widening, never narrowing)."""
    return _render(presence, lambda p: _fts_string(p) if len(p) >= TRIGRAM else None)


def _substring_sql(
    presence: Presence, params: dict[str, object], fn: str, row: str = "s"
) -> str | None:
    """`presence` as SQL over the index row `row` (`fn`: instr or strpos), binding patterns."""

    def leaf(pattern: str) -> str:
        name = f"p{len(params)}"
        params[name] = pattern
        return f"({fn}({row}.title, :{name}) > 0 OR {fn}({row}.body, :{name}) > 0)"

    return _render(presence, leaf)


def candidate_ids(
    session: Session,
    presence: Presence,
    since: datetime | None,
    needs: Sequence[Sequence[str]] = (),
) -> set[int] | None:
    """Ids of the articles first seen at or after `since` whose title or body
    skeleton satisfies `presence` (and holds one pattern of each set in `needs`,
    the query's conjunctive necessary conditions).

    SQLite looks `presence` up in the FTS5 index (patterns under three
    characters left out), then checks the sets of `needs` that have such a
    short pattern with `instr` on those rows; PostgreSQL checks `presence`
    with `strpos`. None when nothing can be looked up: the caller replays
    everything.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    params: dict[str, object] = {}
    window = ""
    if since is not None:
        window = " AND a.first_seen_at >= :since"
        # SQLite stores naive UTC; PostgreSQL aware (see store.models.UTCDateTime).
        params["since"] = since.replace(tzinfo=None) if sqlite else since
    if not sqlite:
        condition = _substring_sql(presence, params, "strpos")
        if condition is None:
            return None
        sql = (
            "SELECT a.id FROM articles a JOIN article_search s ON s.article_id = a.id WHERE "
            + condition
            + window
        )
        return {int(r[0]) for r in session.execute(text(sql), params)}
    expression = _fts_expression(presence)
    if expression is None:
        return None
    params["q"] = expression
    short = [sorted(set(n)) for n in needs if n and min(map(len, n)) < TRIGRAM]
    checks = [_substring_sql(("or", tuple(n)), params, "instr", "article_search") for n in short]
    extra = "".join(f" AND {c}" for c in checks if c is not None)
    # The index is read only through MATCH (and the rows it finds): never scanned.
    sql = (
        "SELECT a.id FROM articles a WHERE a.id IN (SELECT rowid FROM article_search "
        "WHERE article_search MATCH :q" + extra + ")" + window
    )
    return {int(r[0]) for r in session.execute(text(sql), params)}


@dataclass(frozen=True)
class SearchPage:
    """One page of search results: article ids, best first, and how many match in all."""

    total: int
    ids: tuple[int, ...]


def search_ids(session: Session, terms: Sequence[str], *, limit: int, offset: int) -> SearchPage:
    """Articles whose title or body holds every term (skeletons), best ranked first.

    SQLite: FTS5 trigram substrings ranked by bm25 (terms under three
    characters by `instr`); PostgreSQL: full-text search of each term as a
    phrase (`phraseto_tsquery('simple')`), ranked by `ts_rank`, and `strpos`
    for terms in scripts written without spaces.
    """
    terms = [t for t in dict.fromkeys(terms) if t.strip()]
    if not terms:
        return SearchPage(0, ())
    params: dict[str, object] = {"limit": limit, "offset": offset}
    if session.get_bind().dialect.name == "sqlite":
        long = [t for t in terms if len(t) >= TRIGRAM]
        conditions = []
        for n, term in enumerate(t for t in terms if len(t) < TRIGRAM):
            params[f"s{n}"] = term
            conditions.append(f"(instr(title, :s{n}) > 0 OR instr(body, :s{n}) > 0)")
        if long:
            params["q"] = " AND ".join(_fts_string(t) for t in long)
            conditions.insert(0, "article_search MATCH :q")
        where = " AND ".join(conditions)
        order = "rank, rowid DESC" if long else "rowid DESC"
        count_sql = f"SELECT count(*) FROM article_search WHERE {where}"
        sql = (
            f"SELECT rowid FROM article_search WHERE {where} "
            f"ORDER BY {order} LIMIT :limit OFFSET :offset"
        )
    else:
        tsv = "to_tsvector('simple'::regconfig, title || ' ' || body)"
        conditions = []
        words = []
        for n, term in enumerate(terms):
            params[f"t{n}"] = term
            if any(is_nospace_char(ch) for ch in term):
                conditions.append(f"(strpos(title, :t{n}) > 0 OR strpos(body, :t{n}) > 0)")
            else:
                conditions.append(f"{tsv} @@ phraseto_tsquery('simple'::regconfig, :t{n})")
                words.append(term)
        params["words"] = " ".join(words)
        where = " AND ".join(conditions)
        count_sql = f"SELECT count(*) FROM article_search WHERE {where}"
        sql = (
            f"SELECT article_id FROM article_search WHERE {where} ORDER BY "
            f"ts_rank({tsv}, plainto_tsquery('simple'::regconfig, :words)) DESC, article_id DESC "
            "LIMIT :limit OFFSET :offset"
        )
    total = int(session.execute(text(count_sql), params).scalar_one())
    ids = tuple(int(r[0]) for r in session.execute(text(sql), params))
    return SearchPage(total, ids)
