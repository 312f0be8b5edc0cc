"""`watcher extract`: the text the matcher sees for a page, by the pipeline's own extraction.

For the operator who asks "what text did the matcher see?": each input (a
URL, fetched with the pipeline's fetcher and SSRF rules, or a file read as
bytes) goes through `watcher.pipeline.page_task.extract_article`, the task
the pipeline's extraction workers run, with the pipeline's options and
decoding (a file's content type comes from its name: `.html`/`.htm`/`.xhtml`
are HTML, anything else is sniffed, as a page without a Content-Type is).
A page reached through a feed entry that has its title and date is
extracted without page metadata; here there is no entry, so the page's own
metadata is looked up (`Metadata.CHEAP`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from watcher.cli.common import config_option, get_config, handle_errors
from watcher.model import Extraction, ExtractionStatus, FetchOutcome
from watcher.settings import Config

_HTML_SUFFIXES = {".html": "text/html", ".htm": "text/html", ".xhtml": "application/xhtml+xml"}
_HAS_TEXT = (ExtractionStatus.OK, ExtractionStatus.PARTIAL)


@dataclass(frozen=True)
class ExtractReport:
    """One input's extraction, as `--json` prints it (`ms`: the extraction alone)."""

    input: str  # the argument as given
    status: str  # an ExtractionStatus value (unreachable/blocked for a failed fetch)
    title: str
    published: datetime | None
    text: str
    ms: float
    reason: str | None = None
    readable: bool = True  # False when the input could not be read or fetched

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "status": self.status,
            "title": self.title,
            "published": self.published.isoformat() if self.published else None,
            "text": self.text,
            "chars": len(self.text),
            "ms": round(self.ms, 1),
            "reason": self.reason,
        }


def extract_input(item: str, config: Config, url: str | None = None) -> ExtractReport:
    """Read or fetch one input and extract it as the pipeline would."""
    if item.startswith(("http://", "https://")):
        fetched = asyncio.run(_fetch(item, config))
        if isinstance(fetched, ExtractReport):
            return fetched
        body, final_url, content_type = fetched
        return _extracted(item, body, url=url or final_url, content_type=content_type)
    path = Path(item)
    try:
        body = path.read_bytes()
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
        return ExtractReport(item, "unreadable", "", None, "", 0.0, reason, readable=False)
    content_type = _HTML_SUFFIXES.get(path.suffix.lower(), "")
    return _extracted(item, body, url=url or path.resolve().as_uri(), content_type=content_type)


def _extracted(item: str, body: bytes, *, url: str, content_type: str) -> ExtractReport:
    from watcher.pipeline.page_task import extract_article

    started = time.perf_counter()
    extraction: Extraction = extract_article(body, url=url, content_type=content_type)
    ms = (time.perf_counter() - started) * 1000
    page = extraction.page
    has_text = extraction.status in _HAS_TEXT and page is not None
    return ExtractReport(
        input=item,
        status=str(extraction.status),
        title=page.title if page else "",
        published=page.published if page else None,
        text=page.text if page and has_text else "",
        ms=ms,
        reason=extraction.reason,
    )


async def _fetch(url: str, config: Config) -> tuple[bytes, str, str] | ExtractReport:
    from watcher.ingest.fetch import Fetcher
    from watcher.pipeline.article import fetch_settings

    async with Fetcher(fetch_settings(config.fetch)) as fetcher:
        result = await fetcher.fetch(url, max_bytes=config.fetch.max_page_bytes)
    if not result.ok:
        status = (
            ExtractionStatus.BLOCKED
            if result.outcome is FetchOutcome.BLOCKED
            else ExtractionStatus.UNREACHABLE
        )
        reason = f"{result.outcome}: {result.error}"
        return ExtractReport(url, str(status), "", None, "", 0.0, reason, readable=False)
    return result.body, result.final_url or url, result.headers.get("content-type", "")


def run_extract(config: Config, inputs: list[str], *, as_json: bool, url: str | None) -> int:
    """Extract every input and print it; 1 when an input could not be read or fetched."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    machine = as_json or not sys.stdout.isatty()
    code = 0
    for item in inputs:
        report = extract_input(item, config, url)
        code = code if report.readable else 1
        if machine:
            sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
            continue
        style = "green" if report.status == "ok" else "yellow" if report.readable else "red"
        published = report.published.date().isoformat() if report.published else "-"
        console.print(
            f"[bold]{escape(item)}[/bold]  [{style}]{report.status}[/{style}]  "
            f"{len(report.text):,} chars  {report.ms:.0f} ms  published {published}"
        )
        if report.reason:
            console.print(f"  reason: {escape(report.reason)}")
        if report.title:
            console.print(f"  title: {escape(report.title)}")
        if report.text:
            console.print(escape(report.text), soft_wrap=True)
        console.print()
    return code


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, per line.")
@click.option(
    "--url",
    default=None,
    help="The page's URL, for files (relative links, canonical URL); "
    "for URLs, the address to attribute instead of the final one.",
)
@config_option
@handle_errors
def extract(
    inputs: tuple[str, ...], as_json: bool, url: str | None, config_path: Path | None
) -> None:
    """Show the text the pipeline extracts from pages (files or URLs).

    The same extraction and decoding as the pipeline; with --json one
    object per input: input, status, title, published, text, chars, ms
    (and reason).

    \b
    Example:
      watcher extract --json --url https://example.com/a saved-page.html
      watcher extract https://www.example.com/news/article
    """
    config = get_config(config_path)
    sys.exit(run_extract(config, list(inputs), as_json=as_json, url=url))
