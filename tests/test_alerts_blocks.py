"""Block Kit building: content, ordering, time, and every Slack limit under hostile input."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
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
from watcher.model import AlertMessage, Hit, TermMatch

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
URL = "https://news.example.org/2025/03/japan-aukus"


def hit(rule_id: str, severity: str = "high", score: float = 1.0, **kw: Any) -> Hit:
    kw.setdefault("matches", ())
    return Hit(rule_id=rule_id, rule_version="v1", severity=severity, score=score, **kw)


def message(**kw: Any) -> AlertMessage:
    base: dict[str, Any] = {
        "alert_id": 1,
        "route": "#aukus-alerts",
        "title": "Japan to join AUKUS Pillar II projects",
        "url": URL,
        "outlet": "Example News",
        "published": NOW - timedelta(hours=2),
        "hits": (hit("pillar2-japan", snippet="Japan will join AUKUS Pillar II work."),),
        "story_id": 10,
    }
    base.update(kw)
    return AlertMessage(**base)


def check_limits(payload: SlackPayload) -> None:
    """Assert every Slack limit, and validate each block with slack-sdk's own models."""
    assert len(payload.blocks) <= MAX_BLOCKS
    assert payload_size(payload.blocks) <= BLOCKS_BUDGET
    assert 0 < len(payload.text) <= TEXT_LIMIT
    assert payload.unfurl_links is False
    assert payload.unfurl_media is False
    for block in payload.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= HEADER_LIMIT
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10


def visible(payload: SlackPayload) -> str:
    """Every text of a payload, joined (for content assertions)."""
    return payload.text + "\n" + json.dumps(payload.blocks, ensure_ascii=False)


def test_alert_has_header_link_meta_snippet_rules() -> None:
    """An alert shows severity and rule name, the headline link, outlet, times, snippet and ids."""
    payload = build_alert(message(), rule_names={"pillar2-japan": "Japan and Pillar II"}, now=NOW)
    check_limits(payload)
    kinds = [b["type"] for b in payload.blocks]
    assert kinds == ["header", "section", "context", "section", "section", "context"]
    assert payload.blocks[0]["text"]["text"] == ":red_circle: HIGH · Japan and Pillar II"
    assert payload.blocks[1]["text"]["text"] == f"*<{URL}|Japan to join AUKUS Pillar II projects>*"
    assert (
        payload.blocks[2]["elements"][0]["text"] == "Example News · 2025-03-14 10:00 UTC (2 h ago)"
    )
    assert "`pillar2-japan`" in payload.blocks[-1]["elements"][0]["text"]
    assert f"<{URL}|" in payload.text


def test_several_rules_in_one_message_highest_severity_first() -> None:
    """All rules of an article are in one message, ordered by severity then score."""
    hits = (
        hit("low-rule", "low", 9.0, snippet="low snippet"),
        hit("medium-rule", "medium", 2.0, snippet="medium snippet"),
        hit("high-b", "high", 1.0, snippet="high b snippet"),
        hit("high-a", "high", 3.0, snippet="strongest snippet"),
        hit("high-a", "high", 0.5, snippet="duplicate hit of a rule"),
    )
    payload = build_alert(message(hits=hits), rule_names={"high-a": "High A"}, now=NOW)
    check_limits(payload)
    assert payload.blocks[0]["text"]["text"] == (
        ":red_circle: HIGH · High A, high-b, medium-rule, low-rule"
    )
    assert payload.blocks[3]["text"]["text"] == "> strongest snippet"
    ids = payload.blocks[-1]["elements"][0]["text"]
    assert ids.startswith("Rules: `high-a` `high-b` `medium-rule` `low-rule`")
    assert "duplicate hit" not in visible(payload)


def test_matched_terms_are_bold_in_snippet() -> None:
    """Terms of every hit (and title words as spelled) are bold in the snippet."""
    hits = (
        hit(
            "r1",
            snippet="Officials said japan's role in aukus Pillar 2 would grow.",
            matches=(
                TermMatch("AUKUS", "text", 0, 5),
                TermMatch('"Pillar 2"', "text", 0, 1),
                TermMatch("Japan", "title", 0, 5),
            ),
        ),
    )
    payload = build_alert(message(hits=hits, title="Japan role grows"), rule_names={}, now=NOW)
    assert payload.blocks[3]["text"]["text"] == (
        "> Officials said *japan*'s role in *aukus* *Pillar 2* would grow."
    )


def test_hostile_feed_text_is_escaped_and_mentions_stripped() -> None:
    """Titles, outlets and snippets from feeds cannot mention, link or inject markup."""
    msg = message(
        title="<!channel> Breaking & <https://phish.example|click> <@U123>",
        outlet="Outlet <!here|here> <#C42|general>",
        url="https://x.org/a|<!everyone>",
        hits=(hit("r1", snippet="read <!subteam^S1|@team> & <b>now</b> @here"),),
    )
    payload = build_alert(msg, rule_names={"r1": "<!channel> rule"}, now=NOW)
    check_limits(payload)
    everything = visible(payload)
    for forbidden in ("<!", "<@", "<#", "<https://phish", "<b>", "@here"):
        assert forbidden not in everything
    assert payload.blocks[1]["text"]["text"] == (
        "*<https://x.org/a%7C%3C!everyone%3E|Breaking &amp; &lt;https://phish.example|click&gt;>*"
    )
    # every remaining "<" opens the one link to the article
    assert re.findall(r"<[^>]*>", payload.blocks[1]["text"]["text"]) == [
        "<https://x.org/a%7C%3C!everyone%3E|Breaking &amp; &lt;https://phish.example|click&gt;>"
    ]


def test_japanese_text_survives_intact() -> None:
    """Japanese titles and snippets reach the payload unchanged, with no mojibake."""
    title = "日本、AUKUS第2の柱への参加を協議　防衛装備の共同開発"
    snippet = (
        "政府は１４日、ＡＵＫＵＳの先端技術協力に日本が参加する方向で調整していると明らかにした。"
    )
    msg = message(
        title=title,
        outlet="共同通信",
        hits=(hit("pillar2-japan", snippet=snippet, matches=(TermMatch("AUKUS", "text", 0, 1),)),),
    )
    payload = build_alert(msg, rule_names={"pillar2-japan": "日本とAUKUS第2の柱"}, now=NOW)
    check_limits(payload)
    assert title in payload.blocks[1]["text"]["text"]
    assert "共同通信" in payload.blocks[2]["elements"][0]["text"]
    assert "*ＡＵＫＵＳ*" in payload.blocks[3]["text"]["text"]  # noqa: RUF001 - full-width on purpose
    raw = json.dumps(payload.as_dict(), ensure_ascii=False).encode("utf-8").decode("utf-8")
    assert "\ufffd" not in raw
    assert "ã" not in raw


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        (NOW - timedelta(seconds=20), "2025-03-14 11:59 UTC (just now)"),
        (NOW - timedelta(minutes=45), "2025-03-14 11:15 UTC (45 min ago)"),
        (NOW - timedelta(hours=2, minutes=30), "2025-03-14 09:30 UTC (2 h 30 min ago)"),
        (NOW - timedelta(hours=30), "2025-03-13 06:00 UTC (30 h ago)"),
        (NOW - timedelta(days=9), "2025-03-05 12:00 UTC (9 days ago)"),
        (NOW + timedelta(minutes=90), "2025-03-14 13:30 UTC (in 1 h 30 min)"),
        (
            datetime(2025, 3, 15, 5, 0, tzinfo=timezone(timedelta(hours=9))),
            "2025-03-14 20:00 UTC (in 8 h)",
        ),
        (datetime(2025, 3, 14, 11, 0), "2025-03-14 11:00 UTC (1 h ago)"),
        (None, "publication time unknown"),
    ],
)
def test_publication_time_utc_and_relative(published: datetime | None, expected: str) -> None:
    """The publication time shows in UTC and relative to `now`; naive times count as UTC."""
    payload = build_alert(message(published=published), rule_names={}, now=NOW)
    assert payload.blocks[2]["elements"][0]["text"] == f"Example News · {expected}"


def test_header_limit_at_its_edge() -> None:
    """A header of exactly 150 characters is kept; one more is cut to 150 with "…"."""
    prefix = ":red_circle: HIGH · "
    exact = "n" * (HEADER_LIMIT - len(prefix))
    payload = build_alert(message(), rule_names={"pillar2-japan": exact}, now=NOW)
    assert payload.blocks[0]["text"]["text"] == prefix + exact
    payload = build_alert(message(), rule_names={"pillar2-japan": exact + "x"}, now=NOW)
    header = payload.blocks[0]["text"]["text"]
    assert len(header) == HEADER_LIMIT
    assert header.endswith("…")


def test_many_rules_fit_header_and_sections() -> None:
    """Sixty matched rules with long names still give a valid message listing what fits."""
    hits = tuple(hit(f"rule-{i:02d}", "medium", float(i), snippet="AUKUS") for i in range(60))
    names = {f"rule-{i:02d}": f"A rather long rule name number {i} " * 3 for i in range(60)}
    payload = build_alert(message(hits=hits), rule_names=names, now=NOW)
    check_limits(payload)
    assert re.search(r"\(\+\d+ more\)$", payload.blocks[0]["text"]["text"])
    assert "more rules" in payload.blocks[4]["text"]["text"]


def test_huge_fields_are_truncated_not_rejected() -> None:
    """A 10,000-character title and snippet of `&` are cut to the limits, link kept."""
    msg = message(title="&" * 10_000, outlet="<" * 5_000, hits=(hit("r", snippet="&" * 10_000),))
    payload = build_alert(msg, rule_names={}, now=NOW)
    check_limits(payload)
    assert payload.blocks[1]["text"]["text"].startswith(f"*<{URL}|&amp;")
    assert payload.degraded().blocks == []
    assert len(payload.degraded().text) <= DEGRADED_TEXT_LIMIT
    assert f"<{URL}|" in payload.degraded().text


hostile_text = st.lists(
    st.sampled_from(
        [*list("ab <>&|*@!#^_~`\n\t日本ＡＵ"), "<!channel>", "<@U1>", "@here", "\u202e"]  # noqa: RUF001 - full-width on purpose
    ),
    max_size=200,
).map("".join)


@settings(max_examples=60, deadline=None)
@given(
    title=hostile_text,
    outlet=hostile_text,
    snippet=hostile_text,
    url=st.sampled_from([URL, "javascript:x", "https://a.org/|<x>", ""]),
    n_hits=st.integers(min_value=0, max_value=8),
)
def test_any_input_gives_a_valid_payload(
    title: str, outlet: str, snippet: str, url: str, n_hits: int
) -> None:
    """Whatever a feed sends, the payload is valid, within limits and free of mentions."""
    hits = tuple(hit(f"r{i}", "high", 1.0, snippet=snippet) for i in range(n_hits))
    msg = message(title=title, outlet=outlet, url=url, hits=hits)
    for payload in (
        build_alert(msg, rule_names={}, now=NOW),
        build_thread_reply(msg, rule_names={}, now=NOW),
        build_digest([msg], rule_names={}, now=NOW),
    ):
        check_limits(payload)
        texts = [payload.text] + [
            b["text"]["text"] for b in payload.blocks if b["type"] == "section"
        ]
        for text in texts:
            assert "<!" not in text
            assert "<@" not in text
            assert "\u202e" not in text
            assert all(tag.startswith("<https://") for tag in re.findall(r"<[^>]*>?", text))


def test_thread_reply_says_also_reported_by() -> None:
    """A later article of a story is a short reply naming the outlet, with its link."""
    msg = message(outlet="Kyodo", url="https://kyodo.example/a", title="Same story")
    payload = build_thread_reply(msg, rule_names={}, now=NOW)
    check_limits(payload)
    assert payload.text == "Also reported by *Kyodo*: <https://kyodo.example/a|Same story>"
    assert payload.blocks[0]["text"]["text"].endswith(payload.text)


def test_digest_groups_by_rule_and_story() -> None:
    """A digest lists each story once per rule, with further reports counted."""
    a1 = message(story_id=1, title="Story one", hits=(hit("r-high"), hit("r-low", "low")))
    a2 = message(story_id=1, title="Story one, wire copy", outlet="Wire", hits=(hit("r-high"),))
    b1 = message(
        story_id=2,
        title="Story two",
        published=NOW - timedelta(minutes=5),
        hits=(hit("r-low", "low"),),
    )
    payload = build_digest(
        [a1, a2, b1], rule_names={"r-high": "High rule"}, now=NOW, since=NOW - timedelta(hours=1)
    )
    check_limits(payload)
    assert (
        payload.blocks[0]["text"]["text"]
        == ":newspaper: Digest: 2 stories since 2025-03-14 11:00 UTC"
    )
    high, low = payload.blocks[1]["text"]["text"], payload.blocks[2]["text"]["text"]
    assert high.startswith(":red_circle: *High rule* (`r-high`) · 1 story")
    assert "Story one>" in high
    assert "(+1 more report)" in high
    assert low.index("Story two") < low.index("Story one>")  # newest first


def test_digest_overflow_is_summarised() -> None:
    """A digest too big for one message lists what fits and counts the rest."""
    items = [
        message(
            story_id=i,
            title=f"Story {i} " + "long title " * 12,
            url=f"https://news.example.org/{i}/" + "p" * 80,
            hits=(hit(f"rule-{i % 70:02d}", "medium"),),
        )
        for i in range(400)
    ]
    payload = build_digest(items, rule_names={}, now=NOW)
    check_limits(payload)
    assert payload.blocks[-1]["type"] == "context"
    assert re.match(
        r"…and \d+ more stories in \d+ more rules", payload.blocks[-1]["elements"][0]["text"]
    )


def test_empty_digest() -> None:
    """A digest with nothing in it still is a valid message."""
    payload = build_digest([], rule_names={}, now=NOW)
    check_limits(payload)
    assert "No new stories." in payload.text


def test_burst_notice() -> None:
    """A burst notice names the rule, the count, the window and where the rest goes."""
    payload = build_burst_notice(
        "pillar2-japan", 21, timedelta(hours=1), rule_names={"pillar2-japan": "P2"}
    )
    check_limits(payload)
    assert payload.text == (
        ":rotating_light: *Burst:* *P2* (`pillar2-japan`) matched 21 stories in the last 1 h. "
        "Further alerts for this rule go to the next digest."
    )
