"""Rule tests: examples/counter-examples and precision/recall on a corpus.

Corpus format (`watcher rules test --corpus DIR`): `DIR/docs/ID.txt` in the
plain-text format (`watcher.text.document`) and `DIR/labels.json`::

    {"ID": {"topics": ["rule-id", ...], "borderline_topics": [...], "lang": "ja"}}

`topics` are the rules that should match; `borderline_topics` name
(document, rule) pairs whose call is uncertain: they are left out of that
rule's scores. A rule with nothing to count in a denominator scores 1.0
there (no false positives possible, or nothing to find).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from watcher.errors import DocumentError
from watcher.model import Document
from watcher.rules.load import Rule
from watcher.rules.match import Matcher, compile_rules, match
from watcher.text.document import read_text_document

__all__ = [
    "Corpus",
    "CorpusDoc",
    "ExampleResult",
    "RuleScore",
    "check_examples",
    "evaluate",
    "evaluate_by_language",
    "language_of",
    "load_corpora",
    "load_corpus",
    "micro",
    "read_document_file",
]


@dataclass(frozen=True)
class CorpusDoc:
    """One labelled document."""

    id: str
    path: Path
    document: Document
    topics: frozenset[str]
    borderline: frozenset[str]
    lang: str | None = None


@dataclass(frozen=True)
class Corpus:
    root: Path
    docs: tuple[CorpusDoc, ...]


@dataclass(frozen=True)
class RuleScore:
    """One rule's confusion counts and scores on a corpus."""

    rule_id: str
    tp: int
    fp: int
    fn: int
    tn: int
    false_positives: tuple[str, ...]  # document ids
    false_negatives: tuple[str, ...]
    excluded: tuple[str, ...]  # borderline document ids left out

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (scores rounded to 3 places)."""
        return {
            "rule": self.rule_id,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "false_positives": list(self.false_positives),
            "false_negatives": list(self.false_negatives),
            "excluded": list(self.excluded),
        }


@dataclass(frozen=True)
class ExampleResult:
    """Whether one example (must match) or counter-example (must not) behaved."""

    rule_id: str
    path: Path  # as written in the rule file
    must_match: bool
    matched: bool | None  # None when the document could not be read
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.matched == self.must_match

    @property
    def message(self) -> str:
        kind = "example" if self.must_match else "counter-example"
        if self.error is not None:
            return f"{kind} {self.path}: {self.error}"
        if self.ok:
            return f"{kind} {self.path}: ok"
        if self.must_match:
            return f"example {self.path} does not match rule {self.rule_id}"
        return f"counter-example {self.path} matches rule {self.rule_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "path": str(self.path),
            "kind": "example" if self.must_match else "counter_example",
            "ok": self.ok,
            "message": self.message,
        }


def _labels(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read labels: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DocumentError(f'{path}: expected an object {{"ID": {{"topics": [...]}}}}')
    return data


def _ids(path: Path, doc_id: str, label: dict[str, Any], key: str) -> frozenset[str]:
    value = label.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DocumentError(f"{path}: {doc_id}: '{key}' must be a list of rule ids")
    return frozenset(value)


def load_corpus(root: Path) -> Corpus:
    """Read `root/labels.json` and every labelled `root/docs/ID.txt`."""
    labels_path = root / "labels.json"
    labels = _labels(labels_path)
    docs: list[CorpusDoc] = []
    for doc_id, label in sorted(labels.items()):
        if not isinstance(label, dict) or not isinstance(label.get("topics"), list):
            raise DocumentError(f'{labels_path}: {doc_id}: expected {{"topics": [rule ids]}}')
        path = root / "docs" / f"{doc_id}.txt"
        text_doc = read_text_document(path)
        lang = label.get("lang")
        if lang is not None and not (isinstance(lang, str) and lang.strip()):
            raise DocumentError(
                f"{labels_path}: {doc_id}: 'lang' must be a language code like \"ja\""
            )
        docs.append(
            CorpusDoc(
                id=doc_id,
                path=path,
                document=text_doc.to_document(),
                topics=_ids(labels_path, doc_id, label, "topics"),
                borderline=_ids(labels_path, doc_id, label, "borderline_topics"),
                lang=lang.strip().lower() if isinstance(lang, str) else None,
            )
        )
    return Corpus(root=root, docs=tuple(docs))


def load_corpora(roots: Sequence[Path]) -> Corpus:
    """One corpus of several; with more than one, each id is qualified by its
    folder's name (`dev2/101`), since ids repeat across corpora."""
    if len(roots) == 1:
        return load_corpus(roots[0])
    docs = tuple(
        replace(d, id=f"{root.name}/{d.id}") for root in roots for d in load_corpus(root).docs
    )
    return Corpus(root=roots[0], docs=docs)


def evaluate(matcher: Matcher, corpus: Corpus) -> list[RuleScore]:
    """Per enabled rule of `matcher`: tp/fp/fn/tn over `corpus`, borderline pairs excluded."""
    matched = {doc.id: {h.rule_id for h in match(matcher, doc.document)} for doc in corpus.docs}
    scores: list[RuleScore] = []
    for rule in matcher.rules:
        tp = fp = fn = tn = 0
        fps: list[str] = []
        fns: list[str] = []
        excluded: list[str] = []
        for doc in corpus.docs:
            if rule.id in doc.borderline:
                excluded.append(doc.id)
                continue
            hit, wanted = rule.id in matched[doc.id], rule.id in doc.topics
            if hit and wanted:
                tp += 1
            elif hit:
                fp += 1
                fps.append(doc.id)
            elif wanted:
                fn += 1
                fns.append(doc.id)
            else:
                tn += 1
        scores.append(RuleScore(rule.id, tp, fp, fn, tn, tuple(fps), tuple(fns), tuple(excluded)))
    return scores


_KANA = re.compile("[\u3041-\u3096\u30a1-\u30fa]")


def language_of(doc: CorpusDoc) -> str:
    """The document's `lang` label, else `ja` when it has kana, else `en`."""
    if doc.lang:
        return doc.lang
    sample = doc.document.title + doc.document.text[:2_000]
    return "ja" if _KANA.search(sample) else "en"


def evaluate_by_language(matcher: Matcher, corpus: Corpus) -> dict[str, list[RuleScore]]:
    """`evaluate` on each language's documents separately (see `language_of`)."""
    by_lang: dict[str, list[CorpusDoc]] = {}
    for doc in corpus.docs:
        by_lang.setdefault(language_of(doc), []).append(doc)
    return {
        lang: evaluate(matcher, Corpus(corpus.root, tuple(docs)))
        for lang, docs in sorted(by_lang.items())
    }


def micro(scores: Sequence[RuleScore], label: str = "all rules") -> RuleScore:
    """The scores summed over rules (micro-averaged precision and recall)."""
    return RuleScore(
        label,
        sum(s.tp for s in scores),
        sum(s.fp for s in scores),
        sum(s.fn for s in scores),
        sum(s.tn for s in scores),
        tuple(i for s in scores for i in s.false_positives),
        tuple(i for s in scores for i in s.false_negatives),
        tuple(i for s in scores for i in s.excluded),
    )


def read_document_file(path: Path) -> Document:
    """The default reader for examples: the plain-text format."""
    return read_text_document(path).to_document()


def check_examples(
    rules: Sequence[Rule],
    root: Path,
    read: Callable[[Path], Document] = read_document_file,
) -> list[ExampleResult]:
    """Run every rule's examples and counter-examples (paths relative to `root`).

    Disabled rules are checked too: their examples document their intent.
    `read` turns a path into a document (the CLI passes one that also
    extracts `.html` files); a `DocumentError` becomes a failed result.
    """
    results: list[ExampleResult] = []
    for rule in rules:
        matcher = compile_rules([replace(rule, enabled=True)])
        for rel, must in [(p, True) for p in rule.examples] + [
            (p, False) for p in rule.counter_examples
        ]:
            path = root / rel
            if not path.is_file():
                results.append(ExampleResult(rule.id, rel, must, None, f"file not found: {path}"))
                continue
            try:
                doc = read(path)
            except DocumentError as exc:
                results.append(ExampleResult(rule.id, rel, must, None, str(exc)))
                continue
            hit = any(h.rule_id == rule.id for h in match(matcher, doc))
            results.append(ExampleResult(rule.id, rel, must, hit))
    return results
