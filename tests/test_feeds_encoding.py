"""Encodings: the same feed in any encoding, declared or not, gives identical text.

The sample sentences are written for this test (not taken from any outlet).
"""

from __future__ import annotations

import pytest

from watcher.ingest.feeds import parse_feed
from watcher.model import FeedEntry

URL = "https://news.example/feed.xml"

JAPANESE = [
    (
        "日本、先端技術の協力で豪英米と協議",
        "日本政府は、極超音速技術や人工知能などの先端分野における協力の可能性について、"
        "豪州、英国、米国と協議を続けている。",
    ),
    (
        "防衛装備品の輸出管理を見直し",
        "政府は防衛装備品の移転に関する規則の見直しを進めており、関係省庁の調整が続いている。",
    ),
    (
        "情報保全制度の整備が焦点に",
        "機密情報の取り扱い資格を定める新しい制度について、国会での審議が始まった。"
        "関係者は慎重な運用を求めている。",
    ),
]
# Characters only CP932 has (NEC special characters): circled digits, parenthesised "stock company".
CP932_EXTRA = (
    "①第一段階の協議",
    "㈱各社と研究機関が参加する計画について、①から③までの段階で協議が進む見通しだ。",
)
RUSSIAN = [
    (
        "Правительство обсуждает сотрудничество",
        "Министерство сообщило о переговорах с партнёрами "  # noqa: RUF001
        "по передовым технологиям и обороне.",
    ),
    (
        "Новые правила экспортного контроля",
        "Эксперты считают, что изменения затронут поставки оборудования и совместные исследования.",
    ),
]
PORTUGUESE = [
    (
        "Ministério anuncia cooperação tecnológica",
        "O governo português discutirá acordos de defesa e inovação com aliados.",
    ),
]


def document(items: list[tuple[str, str]], declared: str | None) -> str:
    """An RSS document as text, with an XML encoding declaration when `declared` is set."""
    decl = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    body = "".join(
        f"<item><title>{t}</title><description>{s}</description>"
        f'<guid isPermaLink="false">g{i}</guid></item>'
        for i, (t, s) in enumerate(items)
    )
    return f'{decl}<rss version="2.0"><channel><title>{items[0][0]}</title>{body}</channel></rss>'


def text_of(entries: tuple[FeedEntry, ...]) -> list[tuple[str, str, str]]:
    return [(e.key, e.title, e.summary) for e in entries]


# (xml declaration, Content-Type charset) per way of labelling a document.
LABELS = {
    "declared": ("{codec}", "{codec}"),
    "declared-in-xml-only": ("{codec}", None),
    "declared-in-header-only": (None, "{codec}"),
    "undeclared": (None, None),
    "mis-declared-header": (None, "utf-8"),
    "mis-declared-both": ("utf-8", "utf-8"),
}


def parse_as(items: list[tuple[str, str]], codec: str, label: str) -> tuple[FeedEntry, ...]:
    xml_decl, charset = LABELS[label]
    declared = xml_decl.format(codec=codec) if xml_decl else None
    content_type = "application/xml" + (
        f"; charset={charset.format(codec=codec)}" if charset else ""
    )
    body = document(items, declared).encode(codec)
    result = parse_feed(body, url=URL, headers={"content-type": content_type})
    assert result.error is None, result.bozo_reason
    return result.entries


@pytest.mark.parametrize("label", list(LABELS))
@pytest.mark.parametrize(
    ("codec", "items"),
    [
        ("shift_jis", JAPANESE),
        ("euc_jp", JAPANESE),
        ("cp932", JAPANESE),
        ("cp932", [*JAPANESE, CP932_EXTRA]),
        ("windows-1251", RUSSIAN),
        ("utf-8", [*JAPANESE, CP932_EXTRA]),
    ],
    ids=["shift_jis", "euc_jp", "cp932", "cp932-nec", "windows-1251", "utf-8"],
)
def test_same_text_in_any_encoding(codec: str, items: list[tuple[str, str]], label: str) -> None:
    """Declared, undeclared and mis-declared legacy encodings all decode to the original text."""
    entries = parse_as(items, codec, label)
    assert text_of(entries) == [(f"g{i}", t, s) for i, (t, s) in enumerate(items)]
    assert all("\ufffd" not in e.title + e.summary for e in entries)


@pytest.mark.parametrize("label", ["declared", "declared-in-xml-only", "declared-in-header-only"])
def test_latin1_declared(label: str) -> None:
    """A declared ISO-8859-1 feed decodes its accented letters."""
    entries = parse_as(PORTUGUESE, "iso-8859-1", label)
    assert text_of(entries) == [("g0", *PORTUGUESE[0])]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_and_without_bom(codec: str) -> None:
    """UTF-16 documents (with a BOM, or declared without one) decode correctly."""
    declared = "utf-16" if codec == "utf-16" else codec
    body = document(JAPANESE, declared).encode(codec)
    result = parse_feed(body, url=URL, headers={"content-type": "application/xml"})
    assert text_of(result.entries) == [(f"g{i}", t, s) for i, (t, s) in enumerate(JAPANESE)]


def test_utf8_bom() -> None:
    """A UTF-8 byte-order mark is not part of the text."""
    body = b"\xef\xbb\xbf" + document(JAPANESE, "utf-8").encode()
    result = parse_feed(body, url=URL, headers={})
    assert result.title == JAPANESE[0][0]
