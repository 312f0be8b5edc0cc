"""The plain-text document format."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.errors import DocumentError
from watcher.text.document import parse_published, parse_text_document, read_text_document


def test_headers_then_blank_line_then_text() -> None:
    """Leading header lines are metadata; the text starts after the blank line."""
    doc = parse_text_document(
        "Title: Japan joins\nURL: https://www.example.org/a\nPublished: 2024-04-08\n"
        "Outlet: Example\nRules: a, b\n\nBody line 1\n\nBody line 2\n"
    )
    assert doc.title == "Japan joins"
    assert doc.url == "https://www.example.org/a"
    assert doc.published == datetime(2024, 4, 8, tzinfo=UTC)
    assert doc.outlet == "Example"
    assert doc.rules == ("a", "b")
    assert doc.text == "Body line 1\n\nBody line 2"


def test_empty_header_values() -> None:
    """Any header value may be empty."""
    doc = parse_text_document("Title: \nURL: \nPublished: \n\nText")
    assert (doc.title, doc.url, doc.published, doc.text) == ("", "", None, "Text")


def test_file_without_headers_is_plain_text() -> None:
    """A file that does not start with a header line is all text."""
    doc = parse_text_document("Japan: a country.\nMore text.")
    assert (doc.title, doc.text) == ("", "Japan: a country.\nMore text.")


def test_headers_without_blank_line() -> None:
    """Text right after the headers is still text."""
    doc = parse_text_document("Title: T\nBody")
    assert (doc.title, doc.text) == ("T", "Body")


def test_crlf_and_bom_are_handled() -> None:
    """Windows line ends and a UTF-8 BOM do not disturb the headers."""
    doc = parse_text_document("\ufeffTitle: T\r\n\r\nBody\r\n")
    assert (doc.title, doc.text) == ("T", "Body")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-04-08", datetime(2024, 4, 8, tzinfo=UTC)),
        ("2024-04-08T10:00:00+09:00", datetime(2024, 4, 8, 1, tzinfo=UTC)),
        ("2024-04-08T10:00:00Z", datetime(2024, 4, 8, 10, tzinfo=UTC)),
        ("2024-04-08 10:00", datetime(2024, 4, 8, 10, tzinfo=UTC)),
        ("2023-03", datetime(2023, 3, 1, tzinfo=UTC)),
        ("2025", datetime(2025, 1, 1, tzinfo=UTC)),
        ("", None),
    ],
)
def test_published_formats(value: str, expected: datetime | None) -> None:
    """Published takes dates, date-times, months and years, always in UTC."""
    assert parse_published(value) == expected


def test_bad_published_date_names_the_line() -> None:
    """An unreadable date is a DocumentError with file and line."""
    with pytest.raises(DocumentError, match=r"doc.txt:2: bad Published date 'soon'"):
        parse_text_document("Title: T\nPublished: soon\n\nx", "doc.txt")


def test_to_document_uses_url_host_as_source() -> None:
    """The matching view has the title, the text and the URL's host."""
    doc = parse_text_document("Title: T\nURL: https://www.Reuters.com/x\n\nBody").to_document()
    assert (doc.title, doc.text, doc.source, doc.url) == (
        "T",
        "Body",
        "www.reuters.com",
        "https://www.Reuters.com/x",
    )


def test_read_missing_and_undecodable_files(tmp_path: Path) -> None:
    """Unreadable files raise DocumentError naming the path."""
    with pytest.raises(DocumentError, match="cannot read"):
        read_text_document(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DocumentError, match="not UTF-8"):
        read_text_document(bad)


def test_read_text_document(tmp_path: Path) -> None:
    """Files are read as UTF-8 in the same format."""
    path = tmp_path / "d.txt"
    path.write_text("Title: 日本\n\n本文", encoding="utf-8")
    doc = read_text_document(path)
    assert (doc.title, doc.text) == ("日本", "本文")
