"""Untrusted text cannot format or reorder a Slack message; long URLs keep the headline.

Issue 13, item 7: `*bold*`, `_`, `~`, backticks and LRM/RLM marks from a
feed passed through into mrkdwn, and a URL over about 3,000 characters
emptied the headline block. Every payload here goes through slack-sdk's
block models (`Block.parse(...).validate_json()`) and Slack's size limits.
"""

from __future__ import annotations

import json
import re

import pytest
from slack_sdk.models.blocks import Block

from tests.test_alerts_blocks import NOW, check_limits, hit, message
from watcher.alerts.blocks import (
    SECTION_LIMIT,
    SlackPayload,
    build_alert,
    build_digest,
    build_thread_reply,
    payload_size,
)
from watcher.alerts.mrkdwn import code, link, mrkdwn, neutralise

HOSTILE_TITLE = "\u200f*Breaking*\u200e _urgent_ ~old~ `rm -rf` \u061c<!channel> & more"
HOSTILE_SNIPPET = "Japan *joins* AUKUS _now_ ~never~ `x` \u200fPillar II\u200e work."


def validated(payload: SlackPayload) -> str:
    """Check every block against slack-sdk's models and the limits; the payload as JSON."""
    for block in payload.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
    check_limits(payload)
    return json.dumps(payload.blocks, ensure_ascii=False) + payload.text


def test_neutralise_and_code() -> None:
    assert (
        neutralise("*a* _b_ ~c~ `d`") == "\u2217a\u2217 \u02cdb\u02cd \u223cc\u223c \u02cbd\u02cb"
    )
    assert mrkdwn("*a* <b> & \u200ec") == "\u2217a\u2217 &lt;b&gt; &amp; c"
    assert code("http_error `x`") == "`http_error \u02cbx\u02cb`"


def test_a_hostile_title_and_snippet_cannot_format_the_alert() -> None:
    payload = build_alert(
        message(
            title=HOSTILE_TITLE,
            hits=(hit("pillar2-japan", snippet=HOSTILE_SNIPPET, matches=()),),
        ),
        rule_names={"pillar2-japan": "Pillar II Japan"},
        now=NOW,
    )
    everything = validated(payload)
    for mark in ("\u200e", "\u200f", "\u061c", "<!channel>"):
        assert mark not in everything
    headline = payload.blocks[1]["text"]["text"]
    label = headline.split("|", 1)[1]
    assert label == (
        "\u2217Breaking\u2217 \u02cdurgent\u02cd \u223cold\u223c \u02cbrm -rf\u02cb &amp; more>*"
    )
    sections = [b["text"]["text"] for b in payload.blocks if b["type"] == "section"]
    snippet = next(t for t in sections if t.startswith(">"))
    assert not re.search(r"[*_~`]", snippet), snippet  # no term matched: no bold of ours
    assert "\u2217joins\u2217" in snippet


@pytest.mark.parametrize("length", [2_000, 2_900, 2_990, 3_000])
def test_a_long_url_keeps_the_headline_and_stays_the_target(length: int) -> None:
    url = "https://news.example.org/a?" + "q=1&" * ((length - 28) // 4)
    url = url + "x" * (length - len(url))
    payload = build_alert(message(url=url), rule_names={}, now=NOW)
    validated(payload)
    head = payload.blocks[1]
    text = head["text"]["text"]
    assert "Japan to join" in text  # the headline shows, whatever the URL
    escaped = url.replace("&", "&amp;")
    if f"<{escaped}|" in text:  # linked inline: the full URL is the target
        assert len(text) <= SECTION_LIMIT
    else:  # too long to inline: the title stays, the button carries the full URL
        assert head["accessory"]["url"] == url
    assert escaped in payload.text  # the fallback text links the full URL too


def test_a_url_too_long_even_for_a_button_keeps_the_headline_and_the_fallback_link() -> None:
    url = "https://news.example.org/" + "a" * 5_000
    payload = build_alert(message(url=url), rule_names={}, now=NOW)
    validated(payload)
    assert payload.blocks[1]["text"]["text"] == "*Japan to join AUKUS Pillar II projects*"
    assert f"<{url}|Japan to join" in payload.text
    assert payload_size(payload.blocks) < 12_000


def test_a_long_url_in_a_thread_reply_and_a_digest_keeps_the_title() -> None:
    url = "https://news.example.org/" + "b" * 4_000
    reply = build_thread_reply(message(url=url, thread_ts="1.2"), rule_names={}, now=NOW)
    assert "Japan to join AUKUS Pillar II projects" in validated(reply)
    digest = build_digest(
        [message(url=url, title=HOSTILE_TITLE)], rule_names={"pillar2-japan": "P"}, now=NOW
    )
    everything = validated(digest)
    assert "\u2217Breaking\u2217" in everything
    assert "\u200f" not in everything


def test_a_long_url_shortens_the_label_not_the_link() -> None:
    url = "https://e.org/" + "c" * 200
    out = link(url, "A headline that is rather long " * 4, room=300)
    assert out.startswith(f"<{url}|A headline")
    assert out.endswith("\u2026>")
    assert len(out) <= 300
