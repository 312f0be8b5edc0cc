"""What the extraction workers run for the pipeline: a page's extraction and its fingerprint.

Fingerprinting is CPU work of the same order as a light page's extraction;
doing it in the worker, next to the extraction, keeps it off the main
process, which also fetches and stores. The pool (`watcher.extract.pool`)
knows nothing of stories: the pipeline hands it this task. Kept small, as
every worker process imports it.
"""

from __future__ import annotations

from dataclasses import replace

from watcher.extract.page import DEFAULT_OPTIONS, ExtractOptions, extract_page
from watcher.model import Extraction
from watcher.stories.cluster import fingerprint


def extract_article(
    body: bytes, *, url: str, content_type: str, options: ExtractOptions = DEFAULT_OPTIONS
) -> Extraction:
    """`extract_page`, plus the extracted text's story fingerprint (when it has text)."""
    extraction = extract_page(body, url=url, content_type=content_type, options=options)
    if extraction.page is None:
        return extraction
    found = fingerprint(extraction.page.text).to_bytes()
    return replace(extraction, page=replace(extraction.page, fingerprint=found))
