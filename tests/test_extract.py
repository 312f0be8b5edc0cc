"""Article extraction from page bytes: boilerplate, metadata, encodings, non-HTML, limits."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime

import pytest

from watcher.extract.page import ExtractOptions, extract_page
from watcher.model import ExtractionStatus
from watcher.text.charset import decode_html

ARTICLE_EN = [
    "Defence ministers from Australia, the United Kingdom and the United States met in "
    "Canberra on Tuesday to review progress on the advanced capabilities pillar of their "
    "partnership, officials said after the closed-door session ended late in the evening.",
    "The talks focused on hypersonic research, undersea drones and shared testing ranges, "
    "according to a joint statement that listed eleven projects due to report results "
    "before the end of the year.",
    "Japan's participation in specific projects was discussed again, two people familiar "
    "with the meeting said, although no formal decision on a new partner was announced.",
    "Export-control reforms passed last year were meant to let engineers from the three "
    "countries share sensitive data without separate licences for every exchange.",
    "Industry groups have complained that the reforms are applied unevenly and that "
    "small suppliers still wait months for approvals that larger firms receive in weeks.",
    "A follow-up meeting of senior officials is planned for the spring in Washington.",
]

BOILERPLATE = [
    "Accept all cookies to continue reading",
    "Subscribe to our newsletter",
    "Most popular stories this week",
    "Copyright Example Media Group",
    "Celebrity chef opens seaside restaurant",
]


def article_page(
    paragraphs: list[str],
    *,
    title: str = "Allies review advanced capabilities projects",
    lang: str = "en",
    head_extra: str = "",
) -> str:
    """A news page: the article amid navigation, cookie banner, related links and footer."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title} | Example News</title>
<meta property="og:title" content="{title}">
<meta name="author" content="Jane Reporter">
<meta property="article:published_time" content="2024-03-05T08:30:00Z">
<link rel="canonical" href="/world/allies-review-projects">
{head_extra}
</head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>{BOILERPLATE[0]}.</p>
<button>Accept</button></div>
<header><nav class="main-nav"><ul>
<li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/business">Business</a></li><li><a href="/sport">Sport</a></li>
</ul></nav></header>
<main>
<article>
<h1>{title}</h1>
<div class="byline">By Jane Reporter, March 5, 2024</div>
{body}
</article>
<aside class="related"><h2>{BOILERPLATE[2]}</h2><ul>
<li><a href="/a">{BOILERPLATE[4]}</a></li>
<li><a href="/b">Weather warning issued for the weekend</a></li>
<li><a href="/c">Local team wins cup final after extra time</a></li>
</ul></aside>
<div class="newsletter"><p>{BOILERPLATE[1]} for daily updates.</p></div>
</main>
<footer><p>{BOILERPLATE[3]} 2024. All rights reserved.</p>
<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
</body></html>"""


ARTICLE_JA = [
    "オーストラリアとイギリス、アメリカの国防相は火曜日、キャンベラで会合を開き、"
    "先端技術分野での協力の進み具合を確認しました。",
    "会合では極超音速兵器の研究や無人潜水機、共同の試験場の利用などが話し合われ、"
    "年内に成果を報告する十一の事業が共同声明に盛り込まれました。",
    "日本が個別の事業に参加する可能性についても改めて議論されたということですが、"
    "新たな参加国についての正式な決定は発表されませんでした。",
    "昨年改正された輸出管理の制度は、三か国の技術者が交流のたびに許可を取らなくても"
    "機密性の高いデータを共有できるようにすることを目的としています。",
    "一方、業界団体からは制度の運用にばらつきがあり、中小の企業は大企業よりも"
    "承認を得るまでに長い時間がかかっているという不満の声も上がっています。①②㈱",
]

FRENCH = [
    "Les ministres de la Défense se sont réunis mardi à Canberra pour faire le point "
    "sur les « capacités avancées » du partenariat — un volet jugé prioritaire.",
    "Selon le communiqué, onze projets devront présenter leurs résultats d’ici la fin "  # noqa: RUF001 -- typographic punctuation is the test data
    "de l’année, notamment sur les drones sous-marins et la recherche hypersonique.",  # noqa: RUF001 -- typographic punctuation is the test data
    "La participation éventuelle du Japon a de nouveau été évoquée, mais aucune décision "
    "n’a été annoncée à l’issue de la réunion, a précisé un porte-parole.",  # noqa: RUF001 -- typographic punctuation is the test data
]

CHINESE = [
    "澳大利亚、英国和美国的国防部长星期二在堪培拉举行会议，审查先进能力合作的进展情况。",  # noqa: RUF001 -- typographic punctuation is the test data
    "会议讨论了高超音速研究、无人潜航器和共用试验场等议题，联合声明列出了十一个项目。",  # noqa: RUF001 -- typographic punctuation is the test data
    "知情人士说，会议再次讨论了日本参与具体项目的问题，但没有宣布关于新伙伴的正式决定。",  # noqa: RUF001 -- typographic punctuation is the test data
    "去年通过的出口管制改革旨在让三国工程师共享敏感数据，而不必为每次交流单独申请许可。",  # noqa: RUF001 -- typographic punctuation is the test data
]


def _extract(page: str | bytes, content_type: str = "text/html; charset=utf-8") -> str:
    body = page.encode() if isinstance(page, str) else page
    result = extract_page(body, url="https://news.example.com/a?id=1", content_type=content_type)
    assert result.status is ExtractionStatus.OK, result.reason
    assert result.page is not None
    return result.page.text


def test_article_kept_boilerplate_dropped() -> None:
    """The article's paragraphs are kept; navigation, banner, related links, footer are not."""
    text = _extract(article_page(ARTICLE_EN))
    for paragraph in ARTICLE_EN:
        assert paragraph in text
    for noise in BOILERPLATE:
        assert noise not in text
    assert "Business" not in text


def test_metadata_is_kept() -> None:
    """Title, author, day-precision date, language and the absolute canonical link are kept."""
    result = extract_page(
        article_page(ARTICLE_EN).encode(), url="https://news.example.com/a?id=1", content_type=""
    )
    assert result.status is ExtractionStatus.OK
    page = result.page
    assert page is not None
    assert page.title == "Allies review advanced capabilities projects"
    assert page.author == "Jane Reporter"
    assert page.published == datetime(2024, 3, 5, tzinfo=UTC)
    assert page.language == "en"
    assert page.canonical_url == "https://news.example.com/world/allies-review-projects"


def test_missing_metadata_is_none() -> None:
    """A page without canonical link, language, author or date gives None for each."""
    body = "".join(f"<p>{p}</p>" for p in ARTICLE_EN)
    result = extract_page(
        f"<html><body><article>{body}</article></body></html>".encode(),
        url="https://news.example.com/a",
        content_type="text/html",
    )
    assert result.page is not None
    assert result.page.canonical_url is None
    assert result.page.language is None
    assert result.page.author is None
    assert result.page.published is None


def _legacy_page(paragraphs: list[str], charset: str | None, lang: str) -> str:
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html lang='{lang}'><head>{meta if charset else ''}<title>Test</title>"
        f"</head><body><nav><a href='/'>Top</a></nav><article>{body}</article></body></html>"
    )


# (paragraphs, codec, label, lang)
LEGACY = [
    (ARTICLE_JA, "cp932", "Shift_JIS", "ja"),
    (ARTICLE_JA, "euc_jp", "EUC-JP", "ja"),
    (CHINESE, "gb2312", "GB2312", "zh"),
    (FRENCH, "cp1252", "windows-1252", "fr"),
    (FRENCH, "cp1252", "iso-8859-1", "fr"),
]


@pytest.mark.parametrize(("paragraphs", "codec", "label", "lang"), LEGACY)
@pytest.mark.parametrize("declared", ["meta", "header", "both", "none", "misdeclared"])
def test_legacy_encodings_give_identical_text(
    paragraphs: list[str], codec: str, label: str, lang: str, declared: str
) -> None:
    """A legacy-encoded page, declared anywhere, nowhere or wrongly, gives the UTF-8 text."""
    if codec != "cp932":  # circled digits and (kabu) exist only in CP932, Shift_JIS's superset
        paragraphs = [p.replace("①②㈱", "") for p in paragraphs]
    expected = _extract(_legacy_page(paragraphs, "utf-8", lang))
    in_meta = label if declared in ("meta", "both") else None
    header = {
        "header": f"text/html; charset={label}",
        "both": f"text/html; charset={label}",
        "misdeclared": "text/html; charset=utf-8",
    }.get(declared, "text/html")
    raw = _legacy_page(paragraphs, in_meta, lang).encode(codec)
    text = _extract(raw, header)
    assert "\ufffd" not in text
    assert text == expected


def test_decode_precedence() -> None:
    """BOM beats everything, valid UTF-8 beats a wrong legacy label, and the header beats meta."""
    assert decode_html(b"\xef\xbb\xbfcaf\xc3\xa9", "text/html; charset=cp1252")[0] == "café"
    assert decode_html("café".encode(), "text/html; charset=iso-8859-1")[0] == "café"
    latin = "<meta charset='koi8-r'>café".encode("cp1252")
    assert decode_html(latin, "text/html; charset=windows-1252")[0].endswith("café")
    utf16 = "<p>日本</p>".encode("utf-16")
    assert decode_html(utf16, "text/html")[0] == "<p>日本</p>"
    assert decode_html("<p>日本</p>".encode("iso2022_jp"), 'text/html; charset="ISO-2022-JP"')[
        0
    ] == ("<p>日本</p>")


def test_xhtml_with_xml_declaration() -> None:
    """An XHTML page whose XML declaration names a legacy encoding is decoded and extracted."""
    body = "".join(f"<p>{p}</p>" for p in ARTICLE_JA)
    page = (
        '<?xml version="1.0" encoding="EUC-JP"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="ja" lang="ja"><head><title>t</title>'
        f"</head><body><article>{body.replace('①②㈱', '')}</article></body></html>"
    )
    text = _extract(page.encode("euc_jp"), "application/xhtml+xml")
    assert ARTICLE_JA[0] in text


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
        ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
        ("application/json", b'{"html": "<html><body>x</body></html>"}'),
        ("text/plain", b"<html><body><p>a text file</p></body></html>"),
        ("", b"%PDF-1.4 not html"),
        ("application/octet-stream", b"\x00\x01\x02binary"),
    ],
)
def test_non_html_is_skipped(content_type: str, body: bytes) -> None:
    """Anything not HTML/XHTML (declared, or sniffed under a vague type) is skipped, with why."""
    result = extract_page(body, url="https://example.com/f", content_type=content_type)
    assert result.status is ExtractionStatus.SKIPPED
    assert result.page is None
    assert result.reason
    assert "not HTML" in result.reason


@pytest.mark.parametrize(
    "content_type", ["", "application/octet-stream", "TEXT/HTML; Charset=UTF-8"]
)
def test_html_sniffed_or_declared_any_case(content_type: str) -> None:
    """HTML bytes under an empty or generic type, or a differently cased type, are extracted."""
    assert ARTICLE_EN[0] in _extract(article_page(ARTICLE_EN), content_type)


def test_too_short() -> None:
    """A page with only a teaser is TOO_SHORT, with the little it found and a reason."""
    page = article_page(["Subscribe to read the full story."], title="Paywalled story")
    result = extract_page(page.encode(), url="https://example.com/p", content_type="text/html")
    assert result.status is ExtractionStatus.TOO_SHORT
    assert result.reason
    assert "chars" in result.reason
    assert result.page is not None
    assert result.page.title == "Paywalled story"


@pytest.mark.parametrize("body", [b"", b"<html></html>", b"<html><body></body></html>"])
def test_empty_pages_are_too_short(body: bytes) -> None:
    """Empty HTML documents are TOO_SHORT, never an exception."""
    result = extract_page(body, url="https://example.com/e", content_type="text/html")
    assert result.status is ExtractionStatus.TOO_SHORT


def test_threshold_is_an_option() -> None:
    """The minimum text length is configurable."""
    page = article_page(ARTICLE_EN[:1])
    options = ExtractOptions(min_text_chars=10_000)
    result = extract_page(page.encode(), url="https://e.com/", content_type="", options=options)
    assert result.status is ExtractionStatus.TOO_SHORT


def test_gzip_bytes_are_not_a_page() -> None:
    """Gzip bytes under an empty type are not HTML (decompressing is the fetcher's job)."""
    body = gzip.compress(article_page(ARTICLE_EN).encode())
    result = extract_page(body, url="https://e.com/", content_type="")
    assert result.status is ExtractionStatus.SKIPPED


@pytest.mark.parametrize(
    ("name", "page", "reason"),
    [
        ("deep", "<html><body>" + "<div>" * 50_000 + "x" + "</div>" * 50_000, None),
        ("many elements", "<html><body>" + "<p>word</p>" * 80_000 + "</body></html>", "elements"),
        ("huge body", "<html><body><p>" + "a " * 3_000_000 + "</p></body></html>", "bytes"),
    ],
)
def test_pathological_pages_stay_bounded(name: str, page: str, reason: str | None) -> None:
    """Very deep, very wide or very large pages come back quickly as a value, never a crash."""
    started = time.monotonic()
    result = extract_page(page.encode(), url="https://e.com/", content_type="text/html")
    assert time.monotonic() - started < 5, name
    assert result.status in (ExtractionStatus.FAILED, ExtractionStatus.TOO_SHORT)
    if reason:
        assert result.status is ExtractionStatus.FAILED
        assert result.reason
        assert "too large" in result.reason
        assert reason in result.reason


def test_garbage_bytes_never_raise() -> None:
    """Random bytes declared as HTML give a value, never an exception."""
    body = bytes(range(256)) * 50 + b"<html><p>\x00\xff</p><<<>>>"
    result = extract_page(body, url="https://e.com/", content_type="text/html")
    assert result.status in (ExtractionStatus.TOO_SHORT, ExtractionStatus.FAILED)
