"""`watcher match`.

`watcher match`: extract ad-hoc documents like the pipeline does and explain each hit.

An input is a URL (fetched with the pipeline's fetcher and SSRF rules), an
`.html`/`.htm` file (extracted with the pipeline's extractor) or a plain-text
file (`Title:`/`URL:`/`Published:` header lines, then the text).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from watcher.cli.common import (
    config_option,
    get_config,
    handle_errors,
    rules_option,
)
from watcher.errors import DocumentError
from watcher.extract.page import extract_page
from watcher.model import Document, ExtractionStatus, Hit
from watcher.rules.active import ActiveRules, RuleSnapshot
from watcher.settings import Config
from watcher.text.document import read_text_document
from watcher.text.urls import host_of

CONTEXT = 50  # characters shown either side of a matched term


def read_input(item: str, config: Config) -> Document:
    """Turn one `match` argument into the document the pipeline would match."""
    if item.startswith(("http://", "https://")):
        return asyncio.run(_fetch_document(item, config))
    path = Path(item)
    if path.suffix.lower() in (".html", ".htm"):
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise DocumentError(f"{path}: cannot read: {exc.strerror or exc}") from None
        return _extracted(body, url=path.resolve().as_uri(), content_type="text/html")
    return read_text_document(path).to_document()


def _extracted(body: bytes, *, url: str, content_type: str) -> Document:
    extraction = extract_page(body, url=url, content_type=content_type)
    if extraction.status is not ExtractionStatus.OK or extraction.page is None:
        raise DocumentError(f"{url}: no article text ({extraction.status}: {extraction.reason})")
    page = extraction.page
    source_url = url if url.startswith("http") else (page.canonical_url or "")
    return Document(
        title=page.title,
        text=page.text,
        source=host_of(source_url) if source_url.startswith("http") else "",
        url=source_url or url,
    )


async def _fetch_document(url: str, config: Config) -> Document:
    from watcher.ingest.fetch import Fetcher
    from watcher.pipeline.article import fetch_settings

    async with Fetcher(fetch_settings(config.fetch)) as fetcher:
        result = await fetcher.fetch(url, max_bytes=config.fetch.max_page_bytes)
    if not result.ok:
        raise DocumentError(f"{url}: {result.outcome}: {result.error}")
    return _extracted(
        result.body,
        url=result.final_url or url,
        content_type=result.headers.get("content-type", ""),
    )


def hit_json(hit: Hit) -> dict[str, Any]:
    """A hit in the documented `watcher match --json` shape (plus `field`, `clauses`
    and `version`: the rule's version, which covers the term sets it uses)."""
    return {
        "rule": hit.rule_id,
        "version": hit.rule_version,
        "severity": hit.severity,
        "score": hit.score,
        "matches": [
            {"term": m.term, "field": m.field, "start": m.start, "end": m.end} for m in hit.matches
        ],
        "clauses": list(hit.clauses),
        "snippet": hit.snippet,
    }


def run_match(config: Config, inputs: list[str], *, as_json: bool) -> None:
    """Match every input and print the explanation (or JSON lines)."""
    snapshot = ActiveRules(config.rules_dir, config.alerts.default_route).current()
    console = Console(highlight=False)
    machine = as_json or not sys.stdout.isatty()
    for item in inputs:
        try:
            doc = read_input(item, config)
        except DocumentError as exc:
            if machine:
                sys.stdout.write(
                    json.dumps({"input": item, "error": str(exc), "hits": []}, ensure_ascii=False)
                    + "\n"
                )
            else:
                console.print(f"[red]{item}[/red]: {exc}")
            continue
        hits = snapshot.match(doc)
        if machine:
            out = {"input": item, "title": doc.title, "hits": [hit_json(h) for h in hits]}
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        else:
            explain(console, item, doc, hits, snapshot)


def explain(
    console: Console, item: str, doc: Document, hits: list[Hit], snapshot: RuleSnapshot
) -> None:
    """Every hit of one document: rule, score, the clauses that fired, terms in context."""
    console.print(Text(f"{item}", style="bold") + Text(f"  {doc.title}"))
    if not hits:
        console.print("  no rule matched\n")
        return
    for hit in hits:
        name = snapshot.names.get(hit.rule_id, hit.rule_id)
        console.print(
            f"  [bold green]{hit.rule_id}[/bold green] ({name}) "
            f"severity={hit.severity} score={hit.score:.2f}"
        )
        for clause in hit.clauses:
            console.print(f"    fired: {clause}")
        seen: set[tuple[str, int]] = set()
        for m in hit.matches:
            if (m.field, m.start) in seen or len(seen) >= 8:
                continue
            seen.add((m.field, m.start))
            source = doc.title if m.field == "title" else doc.text
            line = Text(f"    {m.field}: …")
            line.append(source[max(0, m.start - CONTEXT) : m.start].replace("\n", " "))
            line.append(source[m.start : m.end], style="bold reverse")
            line.append(source[m.end : m.end + CONTEXT].replace("\n", " ") + "…")
            console.print(line)
        if len(hit.matches) > len(seen):
            console.print(f"    … {len(hit.matches) - len(seen)} more matches")
    console.print()


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, per line.")
@config_option
@rules_option
@handle_errors
def match(
    inputs: tuple[str, ...], as_json: bool, config_path: Path | None, rules_dir: Path | None
) -> None:
    """Extract and match documents (files or URLs); explain every hit.

    `.html`/`.htm` files are extracted like pipeline pages; other files are
    plain text with optional `Title:`/`URL:`/`Published:` header lines.

    \b
    Example:
      watcher match seeds/*.txt --json
    """
    from watcher.cli.match import run_match

    config = get_config(config_path, rules_dir)
    run_match(config, list(inputs), as_json=as_json)
