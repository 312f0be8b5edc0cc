"""`watcher extract`: the pipeline's extraction of files and URLs, as text or JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.support.httpserver import LocalSite
from tests.test_extract import ARTICLE_EN, article_page
from tests.test_extract_truncation import CONTINUATIONS, cut_page
from watcher.cli.main import main
from watcher.pipeline.page_task import extract_article

ACCENTED = (
    "Caf\u00e9 owners in Z\u00fcrich said the D\u00e9fense ministry\u2019s "
    "\u201cnew\u201d rules apply."
)


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "watcher.toml"
    path.write_text("[fetch]\nallow_private_addresses = true\nretries = 0\n")
    return path


def test_files_are_read_as_bytes_and_decoded_like_pages(tmp_path: Path) -> None:
    """A windows-1252 page and a cut page give the pipeline task's exact text and status."""
    legacy = tmp_path / "legacy.html"
    page = article_page([ACCENTED, *ARTICLE_EN]).replace('<meta charset="utf-8">', "")
    legacy.write_bytes(
        page.replace("<head>", '<head><meta charset="windows-1252">').encode("cp1252")
    )
    cut = tmp_path / "cut.htm"
    cut.write_bytes(cut_page(next(iter(CONTINUATIONS.values()))).encode())
    args = ["extract", "--json", "--config", str(_config(tmp_path)), str(legacy), str(cut)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    first, second = _lines(result.output)
    assert set(first) == {"input", "status", "title", "published", "text", "chars", "ms", "reason"}
    for line, path in ((first, legacy), (second, cut)):
        expected = extract_article(
            path.read_bytes(), url=path.resolve().as_uri(), content_type="text/html"
        )
        assert expected.page is not None
        assert line["input"] == str(path)
        assert line["status"] == str(expected.status)
        assert line["text"] == expected.page.text
        assert line["chars"] == len(expected.page.text)
        assert line["title"] == expected.page.title
    assert ACCENTED in str(first["text"])
    assert (first["status"], second["status"]) == ("ok", "partial")
    assert first["published"] == "2024-03-05T00:00:00+00:00"


def test_urls_are_fetched_and_unreadable_inputs_exit_1(
    local_site: LocalSite, tmp_path: Path
) -> None:
    """A URL goes through the fetcher; a missing file or a 404 is reported and exits 1."""
    local_site.add("/a.html", article_page(ARTICLE_EN))
    local_site.add("/gone.html", "no", status=404)
    config = str(_config(tmp_path))
    ok = CliRunner().invoke(
        main, ["extract", "--json", "--config", config, local_site.url("/a.html")]
    )
    assert ok.exit_code == 0, ok.output
    (line,) = _lines(ok.output)
    assert line["status"] == "ok"
    assert all(p in str(line["text"]) for p in ARTICLE_EN)
    assert isinstance(line["ms"], float)

    missing = str(tmp_path / "missing.html")
    bad = CliRunner().invoke(
        main, ["extract", "--json", "--config", config, missing, local_site.url("/gone.html")]
    )
    assert bad.exit_code == 1
    gone_file, gone_url = _lines(bad.output)
    assert (gone_file["input"], gone_file["status"], gone_file["chars"]) == (
        missing,
        "unreadable",
        0,
    )
    assert gone_url["status"] == "unreachable"


def test_text_output_shows_status_and_text(tmp_path: Path) -> None:
    """Without --json on a terminal-less run the output is still one JSON line per input."""
    path = tmp_path / "a.html"
    path.write_text(article_page(ARTICLE_EN))
    result = CliRunner().invoke(main, ["extract", "--config", str(_config(tmp_path)), str(path)])
    assert result.exit_code == 0
    (line,) = _lines(result.output)
    assert line["status"] == "ok"
