"""The web console over plain HTTP: access rules, every page's content, search and preview.

The real aiohttp application serves a history stored through the pipeline's
own `save_poll`, on SQLite and on the real PostgreSQL fixture where the
database matters (search, preview).
"""

from __future__ import annotations

import html
import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from tests.console_helpers import (
    NOW,
    SECRET_BEARER,
    SECRET_KEY,
    TOKEN,
    XSS_TITLE,
    deps_for,
    fetch,
    seeded_database,
    serve,
)
from watcher.daemon.console import console_refusal
from watcher.daemon.console import pages as console_pages
from watcher.daemon.console.access import COOKIE, SESSION_SECONDS, make_session
from watcher.pipeline.backtest import backtest
from watcher.pipeline.preview import preview, preview_rule
from watcher.rules.load import load_rules_and_sets
from watcher.store import models
from watcher.store.db import Database

PAGES = ("/", "/sources", "/rules", "/rules/aukus-japan", "/search?q=AUKUS")


@pytest.fixture
def seeded(database_url: str, tmp_path: Path) -> Iterator[tuple[Database, Path, dict[str, int]]]:
    with seeded_database(database_url, tmp_path) as history:
        yield history


@pytest.fixture
def sqlite_seeded(tmp_path: Path) -> Iterator[tuple[Database, Path, dict[str, int]]]:
    with seeded_database(f"sqlite:///{tmp_path / 'w.db'}", tmp_path) as history:
        yield history


# --- access ---------------------------------------------------------------------------


def test_without_credentials_every_page_is_401_with_the_login_form(sqlite_seeded) -> None:
    """With a token set, a request without credentials gets 401, a Bearer challenge and the form."""
    db, rules, _ = sqlite_seeded
    with serve(deps_for(db, rules, token=TOKEN)) as base:
        for path in (*PAGES, "/rules/preview?query=AUKUS", "/stories/1"):
            status, headers, body = fetch(base + path)
            assert status == 401, path
            assert headers["WWW-Authenticate"].startswith("Bearer"), path
            assert 'id="login"' in body, path
            assert "Tokyo joins" not in body, path


def test_a_bearer_token_opens_the_console_and_a_wrong_one_is_403(sqlite_seeded) -> None:
    """`Authorization: Bearer <token>` is let through; a wrong token or scheme is refused."""
    db, rules, _ = sqlite_seeded
    with serve(deps_for(db, rules, token=TOKEN)) as base:
        status, _h, body = fetch(base + "/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        assert "Tokyo joins" in body
        status, _h, body = fetch(base + "/", headers={"Authorization": "Bearer nope"})
        assert status == 403
        assert "Tokyo joins" not in body
        status, _h, _b = fetch(base + "/", headers={"Authorization": f"Basic {TOKEN}"})
        assert status == 401


def test_the_login_form_sets_a_session_cookie_that_opens_the_console(sqlite_seeded) -> None:
    """POST /login with the token answers 303 to `next` with an HttpOnly, SameSite=Strict
    cookie that opens every page; a wrong token is 403 and sets no cookie."""
    db, rules, _ = sqlite_seeded
    with serve(deps_for(db, rules, token=TOKEN)) as base:
        status, headers, body = fetch(
            base + "/login", method="POST", form={"token": "wrong", "next": "/sources"}
        )
        assert status == 403
        assert "Set-Cookie" not in headers
        assert "wrong token" in body
        status, headers, _ = fetch(
            base + "/login", method="POST", form={"token": TOKEN, "next": "/sources"}
        )
        assert status == 303
        assert headers["Location"] == "/sources"
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        value = re.search(rf"{COOKIE}=([^;]+)", cookie)
        assert value is not None
        for path in PAGES:
            status, _h, body = fetch(base + path, headers={"Cookie": f"{COOKIE}={value[1]}"})
            assert status == 200, path
        status, headers, _ = fetch(
            base + "/login", method="POST", form={"token": TOKEN, "next": "//evil.example/"}
        )
        assert headers["Location"] == "/"  # never redirected off the console


def test_forged_and_expired_session_cookies_are_refused(sqlite_seeded) -> None:
    """A cookie signed with another token is 403; an expired genuine one asks to log in (401)."""
    db, rules, _ = sqlite_seeded
    forged = make_session("another-token")
    expired = make_session(TOKEN, now=time.time() - SESSION_SECONDS - 60)
    with serve(deps_for(db, rules, token=TOKEN)) as base:
        assert fetch(base + "/", headers={"Cookie": f"{COOKIE}={forged}"})[0] == 403
        assert fetch(base + "/", headers={"Cookie": f"{COOKIE}={expired}"})[0] == 401
        fresh = make_session(TOKEN)
        assert fetch(base + "/", headers={"Cookie": f"{COOKIE}={fresh}"})[0] == 200


def test_healthz_and_metrics_stay_open_when_a_token_is_set(sqlite_seeded) -> None:
    """Health checks and Prometheus scrapes carry no token: both answer without one."""
    db, rules, _ = sqlite_seeded
    with serve(deps_for(db, rules, token=TOKEN)) as base:
        assert fetch(base + "/healthz")[0] == 200
        status, _h, body = fetch(base + "/metrics")
        assert status == 200
        assert "watcher_" in body


def test_beyond_loopback_without_a_token_the_console_is_off_and_the_log_says_why() -> None:
    """0.0.0.0 without WATCHER_WEB_TOKEN: no console (logged); loopback or a token: console."""
    from watcher.daemon.service import _console

    assert console_refusal("127.0.0.1:8080", None) is None
    assert console_refusal("[::1]:8080", None) is None
    assert console_refusal("0.0.0.0:8080", TOKEN) is None
    for listen in ("0.0.0.0:8080", ":8080", "10.0.0.5:8080"):
        reason = console_refusal(listen, None)
        assert reason is not None
        assert "WATCHER_WEB_TOKEN" in reason
    config = SimpleNamespace(listen="0.0.0.0:8080", web_token=None)
    with capture_logs() as logs:
        assert _console(SimpleNamespace(config=config)) is None  # type: ignore[arg-type]
    assert [e["event"] for e in logs] == ["console_disabled"]
    assert "beyond loopback" in logs[0]["reason"]


def test_without_the_console_only_health_and_metrics_are_served() -> None:
    """The web app built without console dependencies answers 404 for console pages."""
    with serve(None) as base:
        assert fetch(base + "/healthz")[0] == 200
        assert fetch(base + "/")[0] == 404
        assert fetch(base + "/rules/preview?query=x")[0] == 404


def _row_counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in models.Base.metadata.sorted_tables
        }


def test_no_console_page_changes_state(sqlite_seeded) -> None:
    """Every console route but login/logout is a GET, and reading every page leaves
    every table (rows and source schedule) exactly as it was."""
    db, rules, stories = sqlite_seeded
    with serve(deps_for(db, rules)) as base:
        before = _row_counts(db)
        with db.session() as session:
            schedule = [
                (r.next_poll_at, r.failures) for r in session.scalars(select(models.SourceRow))
            ]
        paths = (*PAGES, f"/stories/{stories['s1']}", "/rules/preview?query=AUKUS&rule=clearance")
        for path in paths:
            assert fetch(base + path)[0] == 200, path
        assert _row_counts(db) == before
        with db.session() as session:
            assert schedule == [
                (r.next_poll_at, r.failures) for r in session.scalars(select(models.SourceRow))
            ]
    from aiohttp import web

    app = web.Application()
    console_pages.add_console(app, deps_for(db, rules))
    posts = {r.resource.canonical for r in app.router.routes() if r.method == "POST"}  # type: ignore[union-attr]
    assert posts == {"/login", "/logout"}


# --- pages ----------------------------------------------------------------------------


def test_front_page_lists_stories_with_hits_newest_first_and_the_chart(sqlite_seeded) -> None:
    """`/` shows the stories with hits (not the Japanese one, which has none), newest
    first with outlet, rules and copies; the SVG chart counts hits of the last 30 days."""
    db, rules, stories = sqlite_seeded
    with serve(deps_for(db, rules)) as base:
        status, headers, body = fetch(base + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    rows = re.findall(r'<tr data-story="(\d+)">', body)
    expected = ["s1", "s3", "s5", "s9", "s8", "s7"]  # by first sighting, newest first
    assert [int(r) for r in rows] == [stories[k] for k in expected]
    s1 = body.split(f'data-story="{stories["s1"]}"')[1].split("</tr>")[0]
    assert "harbour.example" in s1
    assert "aukus-japan" in s1
    assert '<td class="num">2</td>' in s1
    totals = dict(re.findall(r'class="series" data-rule="([^"]+)" data-total="(\d+)"', body))
    # aukus-japan: a1, a2, a5, a9 (a7 is 40 days old); clearance: a3, a8
    assert totals == {"aukus-japan": "4", "clearance": "2"}
    assert 'data-day="2026-11-19" data-count="2"' in body  # a1 and a2


def test_front_page_pages_through_the_stories(sqlite_seeded, monkeypatch) -> None:
    """With three stories a page, page 2 holds the next three and links both ways."""
    db, rules, stories = sqlite_seeded
    monkeypatch.setattr(console_pages, "PAGE_SIZE", 3)
    with serve(deps_for(db, rules)) as base:
        body = fetch(base + "/?page=2")[2]
    rows = [int(r) for r in re.findall(r'<tr data-story="(\d+)">', body)]
    assert rows == [stories["s9"], stories["s8"], stories["s7"]]
    assert 'rel="prev" href="?page=1"' in body
    assert "page 2 of 2" in body


def test_story_page_shows_every_copy_with_highlighted_evidence(sqlite_seeded) -> None:
    """`/stories/ID`: both copies, their outlets and original links, each hit's rule and
    score, the matched terms in <mark> in the title and the evidence."""
    db, rules, stories = sqlite_seeded
    with serve(deps_for(db, rules)) as base:
        body = fetch(base + f"/stories/{stories['s1']}")[2]
        missing = fetch(base + "/stories/999999")[0]
    assert missing == 404
    assert body.count('<article class="copy"') == 2
    assert 'href="http://harbour.example/a1"' in body
    assert 'href="http://wire.example/a2"' in body
    assert "Tokyo joins <mark>AUKUS</mark> talks" in body
    assert "<mark>AUKUS</mark> partners met <mark>Japan</mark> on Pillar II work." in body
    assert 'data-rule="aukus-japan"' in body
    assert "score" in body


def test_untrusted_text_is_escaped_everywhere(sqlite_seeded) -> None:
    """A title and text carrying markup are shown as text on the story, front, preview
    and search pages; only the console's own <mark> tags are markup."""
    db, rules, stories = sqlite_seeded
    with serve(deps_for(db, rules)) as base:
        bodies = [
            fetch(base + f"/stories/{stories['s5']}")[2],
            fetch(base + "/")[2],
            fetch(base + "/rules/preview?query=AUKUS+AND+Japan")[2],
            fetch(base + "/search?q=AUKUS")[2],
            fetch(base + "/rules/preview?query=%3Cscript%3Ex%3C/script%3E")[2],
        ]
    for body in bodies:
        assert "<script>window.__pwned" not in body
        assert "<img src=x" not in body
        assert "<script>x</script>" not in body
    assert html.escape("<script>window.__pwned = 1</script>", quote=False) in bodies[0]
    assert f"<title>{html.escape(XSS_TITLE, quote=False)} · watcher</title>" in bodies[0]


def test_sources_page_shows_status_and_notices_with_secrets_redacted(sqlite_seeded) -> None:
    """`/sources`: each source's status, last poll, error, next poll and articles, and the
    ops notice; the URL's password, its api_key and the Bearer value are never shown."""
    db, rules, _ = sqlite_seeded
    with serve(deps_for(db, rules)) as base:
        body = fetch(base + "/sources")[2]
    good = body.split('data-source="Harbour Post"')[1].split("</tr>")[0]
    bad = body.split('data-source="Locked Wire"')[1].split("</tr>")[0]
    assert 'class="badge ok"' in good
    assert '<td class="num">9</td>' in good
    assert 'class="badge failing"' in bad
    assert "http_error" in bad
    assert "HTTP 401" in bad
    assert "unhealthy" in bad
    assert "2026-11-20 11:00 UTC" in bad
    assert 'data-notice="' in body
    assert "#ops" in body
    for secret in (SECRET_KEY, SECRET_BEARER, "pa55word"):
        assert secret not in body
    assert "api_key=***" in body
    assert "Bearer ***" in body


def test_rules_pages_show_query_version_hits_and_precision_only_when_wired(sqlite_seeded) -> None:
    """`/rules` lists each rule with query, version and 30-day hits; `/rules/ID` adds the
    chart; a precision column appears only when a judgments source is wired."""
    db, rules, _ = sqlite_seeded
    deps = deps_for(db, rules)
    version = {r.id: r.version for r in deps.rules().rules}
    with serve(deps) as base:
        listing = fetch(base + "/rules")[2]
        one = fetch(base + "/rules/clearance")[2]
        assert fetch(base + "/rules/nope")[0] == 404
    row = listing.split('data-rule="aukus-japan"')[1].split("</tr>")[0]
    assert "AUKUS AND Japan" in row
    assert version["aukus-japan"] in row
    assert '<td class="num">4</td>' in row
    assert "Precision" not in listing
    assert "Precision" not in one
    assert "&#34;security clearance&#34;" in one
    assert version["clearance"] in one
    assert 'data-rule="clearance" data-total="2"' in one
    with serve(
        deps_for(db, rules, precision=lambda rule: 0.75 if rule == "clearance" else None)
    ) as base:
        listing = fetch(base + "/rules")[2]
        one = fetch(base + "/rules/clearance")[2]
    assert "Precision" in listing
    assert "0.75" in listing
    assert "0.75" in one


# --- preview and search, on both backends --------------------------------------------


def test_preview_shows_matches_with_marks_and_what_a_rule_edit_adds_and_removes(seeded) -> None:
    """Widening aukus-japan to Korea adds the Seoul story; narrowing it to hypersonics
    removes the stories that would stop alerting; both with the matched terms marked."""
    db, rules, stories = seeded
    with serve(deps_for(db, rules)) as base:
        wide = fetch(
            base
            + "/rules/preview?rule=aukus-japan&query="
            + urllib.parse.quote("AUKUS AND (Japan OR Korea)")
        )[2]
        narrow = fetch(
            base
            + "/rules/preview?rule=aukus-japan&since=30d&query="
            + urllib.parse.quote("AUKUS AND Japan AND hypersonics")
        )[2]
    assert 'data-added="1" data-removed="0"' in wide
    assert f'<li data-story="{stories["s4"]}">' in wide.split('class="added"')[2]
    assert "Seoul eyes <mark>AUKUS</mark>" in wide
    assert "<mark>AUKUS</mark> may work with <mark>Korea</mark> on autonomy." in wide
    assert 'data-matches="5"' in wide  # a1, a2, a4, a5, a9 (a7 is outside 30 days)
    removed = narrow.split('<ul class="removed">')[1].split("</ul>")[0]
    assert sorted(int(s) for s in re.findall(r'data-story="(\d+)"', removed)) == sorted(
        [stories["s5"], stories["s9"]]
    )
    assert 'data-added="0" data-removed="2"' in narrow
    assert "<mark>hypersonics</mark>" in narrow


def test_preview_reports_a_parse_error_with_its_column(sqlite_seeded) -> None:
    """An invalid query answers 400 with the parser's message and its 1-based column."""
    db, rules, _ = sqlite_seeded
    with serve(deps_for(db, rules)) as base:
        status, _h, body = fetch(
            base + "/rules/preview?query=" + urllib.parse.quote("AUKUS NEAR/x Japan")
        )
        bad_since = fetch(base + "/rules/preview?since=forever&query=AUKUS")
    assert status == 400
    assert re.search(r"Column 7: [^<]*NEAR", body), body
    assert bad_since[0] == 400
    assert "since" in bad_since[2]


QUERIES = [
    "AUKUS AND Japan",
    "AUKUS",
    "日本 AND AUKUS",
    '"security clearance" OR title:Seoul',
    "AUKUS AND NOT Japan",
    "clear* OR hypersonic*",
    "NOT AUKUS",
    "第2の柱",
    "AU OR 柱",
    "AUKUS NEAR/3 Japan",
    "ATLEAST(2, AUKUS OR Japan) OR lead:Korea",
    '(AUKUS NEAR/10 pillar*) OR "security clearance"',
    "title:(AUKUS AND Japan) AND NOT Korea",
]


@pytest.mark.parametrize("query", QUERIES)
def test_the_prefilter_never_loses_a_match(seeded, query: str) -> None:
    """The preview (search-index candidates, then the matcher) matches exactly the
    articles a full replay of the window matches, folded spellings included."""
    db, rules, _ = seeded
    _rules, sets = load_rules_and_sets(rules)
    since = NOW.replace(year=2000)
    fast = preview(db, query, since=since, sets=sets)
    full: set[int] = set()
    backtest(
        db,
        [preview_rule(query, sets)],
        since=since,
        baseline=[],
        on_match=lambda article, _rules: full.add(article.id),
    )
    assert set(fast.matched) == full
    assert [m.article.id for m in fast.shown] == list(fast.matched)  # all 9 fit in 50
    if query in ("AUKUS AND Japan", "AUKUS"):
        assert fast.prefiltered
        assert fast.replayed < 10
    if query == "NOT AUKUS":
        assert not fast.prefiltered


@pytest.mark.parametrize(
    ("q", "keys", "marks"),
    [
        ("hypersonics", ["a2"], ["hypersonics"]),
        ('"security clearance"', ["a3", "a8"], ["security clearance"]),
        ("AUKUS Korea", ["a4"], ["AUKUS", "Korea"]),
        ("第2の柱", ["a6"], ["第2の柱"]),
    ],
)
def test_search_finds_articles_with_highlights(
    seeded, q: str, keys: list[str], marks: list[str]
) -> None:
    """`/search` (FTS5 on SQLite, full-text search on PostgreSQL) finds the articles
    holding every term and marks the terms as hits are marked."""
    db, rules, _ = seeded
    with serve(deps_for(db, rules)) as base:
        body = fetch(base + "/search?q=" + urllib.parse.quote(q))[2]
    with db.session() as session:
        ids = {
            url.rsplit("/", 1)[1]: article_id
            for article_id, url in session.execute(
                select(models.ArticleRow.id, models.ArticleRow.url)
            )
        }
    found = [int(i) for i in re.findall(r'<li class="result" data-article="(\d+)">', body)]
    assert sorted(found) == sorted(ids[k] for k in keys)
    assert f'data-total="{len(keys)}"' in body
    for term in marks:
        assert f"<mark>{term}</mark>" in body, term


def test_the_daemon_console_redacts_every_configured_secret(tmp_path: Path) -> None:
    """`console_deps` hands the pages the Slack token and webhook, the console token and
    every source header value, so none of them can show on /sources."""
    from watcher.daemon.console import console_deps
    from watcher.model import SourceSpec
    from watcher.settings import Config, SlackConfig

    config = Config(
        slack=SlackConfig(bot_token="xoxb-secret-1", webhook_url="https://hooks.example/s"),
        web_token=TOKEN,
        sources=(
            SourceSpec(name="s", url="http://x.example/f", headers=(("authorization", "k-42"),)),
        ),
    )
    deps = console_deps(
        SimpleNamespace(config=config, db=None, rules=SimpleNamespace(current=None))
    )  # type: ignore[arg-type]
    assert set(deps.secrets) == {"xoxb-secret-1", "https://hooks.example/s", TOKEN, "k-42"}
    assert deps.token == TOKEN
    assert TOKEN not in repr(config)
    assert TOKEN not in repr(deps)
