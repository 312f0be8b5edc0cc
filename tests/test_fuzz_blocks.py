"""Fuzzing the Block Kit builders with hostile feeds: every payload is valid and within limits.

Titles, outlets, snippets, URLs, rule ids and names come from any Unicode
text (control and format characters, mentions, mrkdwn syntax, right-to-left
overrides, huge lengths), with up to 60 hits and 120 digest items. Every
block must pass slack-sdk's own models, every Slack limit must hold, no
mention or foreign `<...>` tag may survive, the article link must be there
when the URL is usable, and the degraded (text-only) form must stay within
its limit. The deeper profile is `slow`.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from watcher.alerts.blocks import (
    BLOCKS_BUDGET,
    HEADER_LIMIT,
    MAX_BLOCKS,
    SECTION_LIMIT,
    TEXT_LIMIT,
    SlackPayload,
    build_alert,
    build_burst_notice,
    build_digest,
    build_thread_reply,
    payload_size,
)
from watcher.alerts.delivery import DEGRADED_TEXT_LIMIT
from watcher.alerts.mrkdwn import safe_url
from watcher.model import AlertMessage, Hit, TermMatch

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PIECES = [
    "<!channel>", "<!here|here>", "<@U0123>", "<#C0123|general>", "<!subteam^S1>", "@here",
    "@channel", "<", ">", "&", "&amp;", "*", "_", "~", "`", "```", "|", "\u202e", "\u200b",
    "\ufeff", "\x00", "\x1b[31m", "\r\n", "\t", "日本", "\uff21\uff35\uff2b\uff35\uff33",
    "👩‍🚀", "e\u0301", "http://x.org",
]  # fmt: skip
TEXT = st.characters(exclude_categories=["Cs"])  # what a database can hold
HOSTILE = st.one_of(
    st.text(TEXT, max_size=80),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(TEXT, max_size=5)), max_size=60).map(
        "".join
    ),
    st.integers(3_000, 15_000).map(lambda n: ("AUKUS <!channel> & " * (n // 10))[:n]),
)
URLS = st.one_of(
    st.sampled_from(
        [
            "https://news.example.org/a/1",
            "http://news.example.org/a?x=1&y=<2>|z",
            "javascript:alert(1)",
            "",
            "https://" + "a" * 3000 + ".org/",
            "https://news.example.org/" + "p/" * 1500,
            "https://news.example.org/a b\u200b",
        ]
    ),
    st.text(TEXT, max_size=40).map(lambda s: "https://news.example.org/" + s),
)
SEVERITIES = st.sampled_from(["high", "medium", "low", "", "CRITICAL"])


@st.composite
def hits(draw: st.DrawFn) -> Hit:
    terms = draw(st.lists(HOSTILE.map(lambda t: t[:50]), max_size=6))
    matches = tuple(TermMatch(t, "text", 0, len(t)) for t in terms)
    return Hit(
        rule_id=draw(st.text(TEXT, min_size=1, max_size=30)),
        rule_version="v1",
        severity=draw(SEVERITIES),
        score=draw(st.floats(allow_nan=False, allow_infinity=False)),
        matches=matches,
        clauses=tuple(draw(st.lists(HOSTILE.map(lambda t: t[:200]), max_size=4))),
        snippet=draw(HOSTILE),
    )


@st.composite
def messages(draw: st.DrawFn) -> AlertMessage:
    offset = draw(st.integers(-(10**6), 10**8))
    return AlertMessage(
        alert_id=draw(st.integers(1, 10**9)),
        route="#fuzz",
        title=draw(HOSTILE),
        url=draw(URLS),
        outlet=draw(HOSTILE),
        published=draw(st.none() | st.just(NOW - timedelta(seconds=offset))),
        hits=tuple(draw(st.lists(hits(), max_size=3))) * draw(st.sampled_from([1, 1, 20])),
        story_id=draw(st.integers(1, 10**9)),
    )


def names(msg: AlertMessage, name: str) -> dict[str, str]:
    return {hit.rule_id: name for hit in msg.hits}


def check(payload: SlackPayload, *, url: str | None = None) -> None:
    """Valid per slack-sdk, within every limit, no mention, only our own links."""
    assert len(payload.blocks) <= MAX_BLOCKS
    assert payload_size(payload.blocks) <= BLOCKS_BUDGET
    assert 0 < len(payload.text) <= TEXT_LIMIT
    assert payload.unfurl_links is False
    json.dumps(payload.blocks, ensure_ascii=False).encode("utf-8")
    texts = [payload.text]  # mrkdwn; plain_text shows "<" literally, so it is not checked
    for block in payload.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= HEADER_LIMIT
        elif block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= SECTION_LIMIT
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            texts += [e["text"] for e in block["elements"] if e["type"] == "mrkdwn"]
    for text in texts:
        for bad in ("<!", "<@", "<#", "\u202e", "\x00"):
            assert bad not in text, text[:300]
        for tag in re.findall(r"<[^>]*>?", text):
            assert re.match(r"<https?://", tag), tag[:200]
    degraded = payload.degraded()
    assert len(degraded.text) <= DEGRADED_TEXT_LIMIT
    if url is not None and (target := safe_url(url)) is not None and len(target) < 2000:
        assert f"<{target}|" in payload.text
        assert f"<{target}|" in degraded.text


def check_all(msgs: list[AlertMessage], name: str) -> None:
    for msg in msgs:
        check(build_alert(msg, rule_names=names(msg, name), now=NOW), url=msg.url)
        check(build_thread_reply(msg, rule_names=names(msg, name), now=NOW), url=msg.url)
    everything = {k: v for m in msgs for k, v in names(m, name).items()}
    check(build_digest(msgs, rule_names=everything, now=NOW, since=NOW - timedelta(hours=1)))
    for msg in msgs[:3]:
        for hit in msg.hits[:2]:
            window = timedelta(seconds=max(1, abs(msg.alert_id) % 10**6))
            check(build_burst_notice(hit.rule_id, msg.alert_id, window, rule_names=everything))


FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
DEEP = settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(st.lists(messages(), min_size=1, max_size=4), HOSTILE)
def test_hostile_alerts_are_valid_block_kit_within_limits(
    msgs: list[AlertMessage], name: str
) -> None:
    """Alerts, replies, digests and burst notices from hostile input are valid and bounded."""
    check_all(msgs, name)


@FAST
@given(st.lists(messages(), min_size=1, max_size=3), st.integers(30, 120))
def test_huge_digests_stay_within_limits(msgs: list[AlertMessage], n: int) -> None:
    """A digest of up to 120 hostile stories stays within Slack's limits."""
    many = [replace(msgs[i % len(msgs)], story_id=i, alert_id=i + 1) for i in range(n)]
    check(build_digest(many, rule_names={}, now=NOW, since=None))


@pytest.mark.slow
@DEEP
@given(st.lists(messages(), min_size=1, max_size=6), HOSTILE)
def test_hostile_alerts_deep(msgs: list[AlertMessage], name: str) -> None:
    """The Block Kit property over many more examples."""
    check_all(msgs, name)
