"""Escaping, mention stripping, links, truncation and term marking for Slack text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watcher.alerts.mrkdwn import (
    ELLIPSIS,
    ZWSP,
    bold_marked,
    clean,
    escape,
    link,
    mrkdwn,
    plain,
    safe_url,
    strip_mentions,
    term_spans,
    truncate,
    truncate_mrkdwn,
    window,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a & b", "a &amp; b"),
        ("<b>bold</b>", "&lt;b&gt;bold&lt;/b&gt;"),
        ("&amp; stays literal", "&amp;amp; stays literal"),
        ("*stars* _under_ ~tilde~ `tick`", "*stars* _under_ ~tilde~ `tick`"),
        ("日本 & 豪州", "日本 &amp; 豪州"),
    ],
)
def test_escape_only_three_characters(raw: str, expected: str) -> None:
    """Only `&`, `<` and `>` are escaped; other mrkdwn characters pass through."""
    assert escape(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alert <!channel> now", "Alert  now"),
        ("<!here> and <!here|here>", " and "),
        ("<!everyone>!", "!"),
        ("hi <@U123ABC> and <@U9|bob>", "hi  and "),
        ("see <#C123> or <#C42|general>", "see  or "),
        ("team <!subteam^S123|@analysts>", "team "),
        ("<!date^1392734382^{date}|Feb 18>", ""),
        ("a < b > c", "a < b > c"),
        (
            "ping @here and @channel, @Everyone",
            f"ping @{ZWSP}here and @{ZWSP}channel, @{ZWSP}Everyone",
        ),
        ("email me@heresy.org", "email me@heresy.org"),
    ],
)
def test_strip_mentions(raw: str, expected: str) -> None:
    """Slack mention syntax is removed and bare broadcast words are defused."""
    assert strip_mentions(raw) == expected


def test_clean_removes_controls_and_bidi_overrides() -> None:
    """Control characters, bidi overrides and BOMs vanish; Japanese and emoji stay intact."""
    raw = "ab\x00c\u202egnp.exe\ufeff 日本語\u3000テキスト 👩\u200d💻"
    assert clean(raw) == "abcgnp.exe 日本語\u3000テキスト 👩\u200d💻"
    assert clean("line one\n\n  line\ttwo  ", single_line=True) == "line one line two"
    assert clean("line one\n\n  line\ttwo  ") == "line one\nline two"


def test_plain_and_mrkdwn_helpers() -> None:
    """`plain` strips mentions without escaping; `mrkdwn` also escapes, limiting raw length."""
    assert plain("A <!channel> & B") == "A & B"
    assert mrkdwn("A <!channel> & B") == "A &amp; B"
    assert mrkdwn("&&&&&", 3) == "&amp;&amp;" + ELLIPSIS


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=1&c=2", "https://example.org/a?b=1&amp;c=2"),
        ("http://x.org/<script>|y", "http://x.org/%3Cscript%3E%7Cy"),
        ("https://x.org/a b\n", "https://x.org/ab"),
        ("javascript:alert(1)", None),
        ("ftp://x.org/file", None),
        ("/relative/path", None),
        ("https://", None),
        ("http://[::1", None),
    ],
)
def test_safe_url(url: str, expected: str | None) -> None:
    """Only http(s) URLs are linked, with `<`, `>`, `|` percent-encoded and `&` escaped."""
    assert safe_url(url) == expected


def test_link_cannot_be_forged() -> None:
    """A hostile label or URL yields exactly one link whose label is escaped text."""
    built = link("https://evil.org/x|<!channel>", "Click <https://phish.example|here> <!here>")
    assert built == (
        "<https://evil.org/x%7C%3C!channel%3E|Click &lt;https://phish.example|here&gt;>"
    )
    assert built.count("<") == 1
    assert built.count(">") == 1
    assert link("javascript:alert(1)", "Title & co") == "Title &amp; co"
    assert link("https://x.org", "  ") == "<https://x.org|(untitled)>"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdefg", 6, "abcde" + ELLIPSIS),
        ("日本語のテキスト", 4, "日本語" + ELLIPSIS),
        ("abc def", 5, "abc" + ELLIPSIS),
        ("abc", 0, ""),
        ("abc", None, "abc"),
    ],
)
def test_truncate_on_code_points(text: str, limit: int | None, expected: str) -> None:
    """Truncation counts code points, ends in "…" and never exceeds the limit."""
    assert truncate(text, limit) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("x &amp; y", 5, "x" + ELLIPSIS),
        ("see <https://a.org/long|label> now", 12, "see" + ELLIPSIS),
        ("short", 10, "short"),
        ("ab &lt;", 7, "ab &lt;"),
    ],
)
def test_truncate_mrkdwn_keeps_entities_and_links_whole(
    text: str, limit: int, expected: str
) -> None:
    """Cutting built mrkdwn never leaves half an entity or an unclosed link."""
    assert truncate_mrkdwn(text, limit) == expected


@given(st.text(max_size=300), st.integers(min_value=1, max_value=200))
def test_truncate_mrkdwn_never_exceeds(text: str, limit: int) -> None:
    """Whatever the input, the truncated mrkdwn fits its limit."""
    assert len(truncate_mrkdwn(escape(text), limit)) <= limit


@pytest.mark.parametrize(
    ("text", "terms", "found"),
    [
        ("Japan joins AUKUS talks", ["japan", "AUKUS"], ["Japan", "AUKUS"]),
        ("Japanese firms", ["Japan"], []),
        ("export controls, exporters", ["export*"], ["export", "exporters"]),
        ("the Pillar-II work", ['"Pillar II"'], ["Pillar-II"]),
        ("Pillar\nII", ['"pillar ii"'], ["Pillar\nII"]),
        ("枠組みAUKUSの参加", ["AUKUS"], ["AUKUS"]),
        ("ＡＵＫＵＳと日本", ["aukus", "日本"], ["ＡＵＫＵＳ", "日本"]),  # noqa: RUF001 - full-width on purpose
        ("日本政府は", ["title:日本"], ["日本"]),
        ("nothing here", ["", "*", '""'], []),
    ],
)
def test_term_spans(text: str, terms: list[str], found: list[str]) -> None:
    """Terms match case-insensitively, NFKC-folded, as whole words, prefixes or phrases."""
    assert [text[s:e] for s, e in term_spans(text, terms)] == found


def test_term_spans_merge_overlaps() -> None:
    """Overlapping matches merge into one span."""
    assert term_spans("advanced capabilities", ['"advanced capabilities"', "advanced"]) == [(0, 21)]


def test_bold_marked_pads_japanese() -> None:
    """Bold terms get zero-width spaces where they touch other characters, and text is escaped."""
    text = "日本はAUKUSに & <x>"
    spans = term_spans(text, ["AUKUS"])
    assert bold_marked(text, spans) == f"日本は{ZWSP}*AUKUS*{ZWSP}に &amp; &lt;x&gt;"
    assert bold_marked("a b", [(0, 1)]) == "*a* b"


def test_window_centres_first_match() -> None:
    """A long snippet is cut around its first match, with ellipses and shifted spans."""
    text = "x" * 500 + " AUKUS " + "y" * 500
    spans = term_spans(text, ["AUKUS"])
    cut, moved = window(text, spans, 100)
    assert len(cut) <= 100
    assert cut.startswith(ELLIPSIS)
    assert cut.endswith(ELLIPSIS)
    assert [cut[s:e] for s, e in moved] == ["AUKUS"]
