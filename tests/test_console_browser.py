"""The web console in a real browser: headless Chromium drives the pages over CDP.

Each test serves the seeded history with the real aiohttp application and
checks what the browser shows (laid-out DOM, the SVG chart's geometry, the
live preview's highlights, the login round trip), saving a screenshot of
each step under `test-artifacts/console/` (ignored by git).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console_helpers import TOKEN, deps_for, seeded_database, serve
from tests.support.browser import Browser, Page
from watcher.store.db import Database


@pytest.fixture
def history(tmp_path: Path) -> Iterator[tuple[Database, Path, dict[str, int]]]:
    with seeded_database(f"sqlite:///{tmp_path / 'w.db'}", tmp_path) as seeded:
        yield seeded


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert len(data) > 5_000, path


async def _type_query(page: Page, query: str) -> None:
    """Replace the preview's query as typing would (an `input` event on the form)."""
    await page.evaluate(
        "(() => { const q = document.getElementById('query'); q.value = "
        + json.dumps(query)
        + "; q.dispatchEvent(new Event('input', {bubbles: true})); return true; })()"
    )


def test_front_page_shows_the_stories_and_draws_the_chart(chromium: Browser, history) -> None:
    """The browser lays out the stories table and the inline SVG chart: one line per
    rule spanning the plot, a dot per day with hits, the legend; no script from a
    stored title ran."""
    db, rules, _ = history

    async def scenario(base: str) -> None:
        async with chromium.page() as page:
            await page.goto(base + "/")
            rows = await page.evaluate("document.querySelectorAll('table.stories tbody tr').length")
            assert rows == 6
            first = await page.evaluate(
                "document.querySelector('table.stories tbody tr td a').textContent"
            )
            assert first == "Tokyo joins AUKUS talks"
            chart = await page.evaluate(
                """(() => {
                  const svg = document.querySelector('svg.chart');
                  const box = svg.getBoundingClientRect();
                  const lines = [...svg.querySelectorAll('g.series polyline')].map(
                    p => p.getBBox().width);
                  return {width: box.width, height: box.height, lines: lines,
                          rules: [...svg.querySelectorAll('g.series')].map(g => g.dataset.rule),
                          dots: svg.querySelectorAll('circle').length,
                          legend: [...svg.querySelectorAll('g.legend text')].map(
                            t => t.textContent)};
                })()"""
            )
            assert chart["width"] > 600
            assert chart["height"] > 200
            assert chart["rules"] == ["aukus-japan", "clearance"]
            assert all(width > 600 for width in chart["lines"])  # 30 days across the plot
            assert chart["dots"] == 5  # days with hits: 3 for aukus-japan, 2 for clearance
            assert chart["legend"] == ["aukus-japan", "clearance"]
            assert await page.evaluate("window.__pwned === undefined")
            _assert_png(await page.screenshot("front-page"))

    with serve(deps_for(db, rules)) as base:
        asyncio.run(scenario(base))


def test_story_page_marks_the_evidence_and_runs_no_stored_markup(
    chromium: Browser, history
) -> None:
    """A story's copies show their evidence with the terms in <mark>; the story whose
    title and text carry script and an onerror image shows them as text."""
    db, rules, stories = history

    async def scenario(base: str) -> None:
        async with chromium.page() as page:
            await page.goto(base + f"/stories/{stories['s1']}")
            marks = await page.evaluate(
                "[...document.querySelectorAll('p.evidence mark')].map(m => m.textContent)"
            )
            assert sorted(set(marks)) == ["AUKUS", "Japan"]
            assert len(marks) == 4
            _assert_png(await page.screenshot("story"))
            await page.goto(base + f"/stories/{stories['s5']}")
            title = await page.evaluate("document.querySelector('h1').textContent")
            assert title.startswith("<script>window.__pwned = 1</script>")
            assert await page.evaluate("window.__pwned === undefined")
            assert await page.evaluate("document.querySelectorAll('main img').length") == 0

    with serve(deps_for(db, rules)) as base:
        asyncio.run(scenario(base))


def test_live_preview_highlights_matches_and_shows_the_edit_and_parse_errors(
    chromium: Browser, history
) -> None:
    """Typing in the preview replaces the results without a page load: the matches with
    their terms marked (and painted), what the edit adds against the rule in force,
    and, for an invalid query, the message with its column."""
    db, rules, _ = history

    async def scenario(base: str) -> None:
        async with chromium.page() as page:
            await page.goto(base + "/rules/preview?rule=aukus-japan&query=AUKUS+AND+Japan")
            assert (
                await page.evaluate("document.getElementById('preview-diff').dataset.added") == "0"
            )
            await page.evaluate("window.__sameDocument = true")
            await _type_query(page, "AUKUS AND (Japan OR Korea)")
            await page.wait_for(
                "document.getElementById('preview-diff') && "
                "document.getElementById('preview-diff').dataset.added === '1'"
            )
            assert await page.evaluate("window.__sameDocument === true")  # no reload
            added = await page.evaluate("document.querySelector('ul.added li a').textContent")
            assert added == "Seoul eyes AUKUS"
            marks = await page.evaluate(
                "[...document.querySelectorAll('ol.matches mark')].map(m => m.textContent)"
            )
            assert {"AUKUS", "Japan", "Korea"} <= set(marks)
            painted = await page.evaluate(
                "getComputedStyle(document.querySelector('ol.matches mark')).backgroundColor"
            )
            assert painted == "rgb(255, 224, 102)"
            assert (await page.evaluate("location.search")).startswith("?query=AUKUS")
            _assert_png(await page.screenshot("preview"))
            await _type_query(page, "AUKUS AND (Japan")
            await page.wait_for("document.getElementById('preview-error')")
            error = await page.evaluate("document.getElementById('preview-error').textContent")
            assert "Column 17" in error
            assert "^" in error
            _assert_png(await page.screenshot("preview-parse-error"))

    with serve(deps_for(db, rules)) as base:
        asyncio.run(scenario(base))


def test_login_form_round_trip(chromium: Browser, history) -> None:
    """With a token, the console shows the login form; a wrong token is refused with a
    message, the right one lands on the page asked for, and the session cookie keeps
    the browser logged in until it logs out."""
    db, rules, _ = history

    async def submit(page: Page, token: str) -> None:
        await page.evaluate(
            "(() => { document.querySelector('#login input[name=token]').value = "
            + json.dumps(token)
            + "; document.getElementById('login').submit(); return true; })()"
        )

    async def scenario(base: str) -> None:
        async with chromium.page() as page:
            await page.goto(base + "/sources")
            assert await page.evaluate("document.getElementById('login') !== null")
            assert await page.evaluate("document.querySelector('table.sources') === null")
            _assert_png(await page.screenshot("login"))
            await submit(page, "not-the-token")
            await page.wait_for("document.getElementById('login-error')")
            assert "wrong token" in await page.evaluate(
                "document.getElementById('login-error').textContent"
            )
            await submit(page, TOKEN)
            await page.wait_for(
                "location.pathname === '/sources' && document.querySelector('table.sources')"
            )
            assert (
                await page.evaluate(
                    "document.querySelector('tr[data-source=\"Locked Wire\"] .badge').textContent"
                )
                == "failing"
            )
            assert await page.evaluate("document.cookie") == ""  # HttpOnly: not readable
            _assert_png(await page.screenshot("sources-after-login"))
            await page.goto(base + "/rules")
            assert (
                await page.evaluate("document.querySelectorAll('table.rules tbody tr').length") == 2
            )
            await page.evaluate("document.querySelector('form.logout').submit()")
            await page.wait_for("location.pathname === '/login'")
            await page.goto(base + "/rules")
            assert await page.evaluate("document.getElementById('login') !== null")

    with serve(deps_for(db, rules, token=TOKEN)) as base:
        asyncio.run(scenario(base))


def test_search_page_in_the_browser_finds_japanese_text(chromium: Browser, history) -> None:
    """Searching from the header box finds the Japanese article by a phrase inside a
    run of kanji and kana, with the phrase marked."""
    db, rules, _ = history

    async def scenario(base: str) -> None:
        async with chromium.page() as page:
            await page.goto(base + "/")
            await page.evaluate(
                "(() => { const f = document.querySelector('nav form.search');"
                " f.q.value = '第2の柱'; f.submit(); return true; })()"
            )
            await page.wait_for(
                "location.pathname === '/search' && document.getElementById('search-count')"
            )
            assert (
                await page.evaluate("document.getElementById('search-count').dataset.total") == "1"
            )
            assert await page.evaluate(
                "[...document.querySelectorAll('li.result mark')].map(m => m.textContent)"
            ) == ["第2の柱"]
            _assert_png(await page.screenshot("search"))

    with serve(deps_for(db, rules)) as base:
        asyncio.run(scenario(base))
