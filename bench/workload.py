"""A synthetic, reproducible matching workload: rules and articles.

Everything is generated from a seed, so two runs (and two machines) measure
the same work. Nothing is copied from real articles: words are pseudo-words
built from syllables, so the text has the shape of news (Zipf-distributed
vocabulary, sentences, capitalised entities, hyphens, numbers) without any
real content.

- **Rules** are written in the query language's style: OR-groups of names
  ANDed together, phrases, `prefix*`, `NEAR/n`, `title:`, `ATLEAST(n, ...)`,
  `NOT`, `source:`, and about a tenth in Japanese (kanji/kana terms mixed
  with Latin ones, as in `(AUKUS OR オーカス) AND 日本`).
- **Articles** (~6,000 characters of body text) draw from a general
  vocabulary; rule terms come from a separate "domain" vocabulary, as named
  entities do in news. A fraction of articles is *on topic*: every positive
  term of one or two rules is planted, so those rules fire; the rest carry a
  few stray domain terms (near misses that make rules candidates without
  firing). About a tenth of the articles are Japanese.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from watcher.model import Document
from watcher.rules.ast import Node, Not, Term, terms_of
from watcher.rules.load import Rule, rule_version
from watcher.rules.parse import parse_query

ARTICLE_CHARS = 6_000
_ONSETS = ["", "b", "br", "c", "ch", "d", "f", "g", "h", "k", "l", "m", "n", "p", "pr", "r", "s"]
_ONSETS += ["st", "t", "th", "tr", "v", "w", "z"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "nd", "st", "ck"]
_KANA = [chr(c) for c in range(0x30A2, 0x30F3)]  # katakana
_KANJI = [chr(c) for c in range(0x4E00, 0x4E00 + 2_000, 3)]
_PARTICLES = ["の", "は", "を", "に", "が", "と", "で", "も"]
_OUTLETS = ["news.example.com", "www.example.org", "wire.example.net", "daily.example.jp"]


@dataclass(frozen=True)
class Workload:
    """Rules and documents to match, plus how they were made."""

    rules: tuple[Rule, ...]
    docs: tuple[Document, ...]
    seed: int
    on_topic: float  # the fraction of documents planted with a rule's terms


def _latin_word(rng: random.Random, syllables: int) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return "".join(parts) + rng.choice(_CODAS)


def _unique(rng: random.Random, make: object, count: int, taken: set[str]) -> list[str]:
    assert callable(make)
    out: list[str] = []
    while len(out) < count:
        word = make(rng)
        if word not in taken and len(word) >= 3:
            taken.add(word)
            out.append(word)
    return out


@dataclass(frozen=True)
class _Vocab:
    general: list[str]  # Zipf-ranked: general[0] is the most frequent
    domain: list[str]  # names and jargon the rules use, rare in general text
    names: list[str]  # other names: mentioned in articles, in no rule
    ja_general: list[str]
    ja_domain: list[str]


def _vocab(rng: random.Random) -> _Vocab:
    taken: set[str] = set()
    general = _unique(rng, lambda r: _latin_word(r, r.choice([1, 1, 2, 2, 3])), 5_000, taken)
    domain = _unique(rng, lambda r: _latin_word(r, r.choice([2, 3, 3, 4])), 3_000, taken)
    names = _unique(rng, lambda r: _latin_word(r, r.choice([2, 3, 3, 4])), 5_000, taken)

    def ja(r: random.Random) -> str:
        if r.random() < 0.5:
            return "".join(r.choice(_KANA) for _ in range(r.randint(3, 5)))
        return "".join(r.choice(_KANJI) for _ in range(r.randint(2, 3)))

    ja_general = _unique(rng, ja, 3_000, taken)
    ja_domain = _unique(rng, ja, 1_000, taken)
    return _Vocab(general, domain, names, ja_general, ja_domain)


class _Zipf:
    """Draws ranks 0..n-1 with probability proportional to 1/(rank+1)."""

    def __init__(self, n: int) -> None:
        weights = [1.0 / (k + 1) for k in range(n)]
        total = 0.0
        self.cumulative: list[float] = []
        for w in weights:
            total += w
            self.cumulative.append(total)

    def draw(self, rng: random.Random, k: int) -> list[int]:
        return [
            i for i in rng.choices(range(len(self.cumulative)), cum_weights=self.cumulative, k=k)
        ]


def _term(rng: random.Random, vocab: _Vocab, japanese: bool) -> str:
    """One query term as written: a word, a `prefix*` or a "phrase"."""
    if japanese and rng.random() < 0.7:
        return rng.choice(vocab.ja_domain)
    roll = rng.random()
    word = rng.choice(vocab.domain).capitalize()
    if roll < 0.6:
        return word
    if roll < 0.72:
        return word[: max(6, len(word) - 2)] + "*"
    common = vocab.general[rng.randint(50, 1_500)]
    parts = [word, common] if rng.random() < 0.5 else [common, word]
    if rng.random() < 0.3:
        parts.append(rng.choice(vocab.domain))
    return '"' + " ".join(parts) + '"'


def _group(rng: random.Random, vocab: _Vocab, japanese: bool, size: tuple[int, int]) -> str:
    terms = [_term(rng, vocab, japanese) for _ in range(rng.randint(*size))]
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def _query(rng: random.Random, vocab: _Vocab, japanese: bool) -> str:
    """A query in one of the shapes analysts write."""

    def g(lo: int = 1, hi: int = 4) -> str:
        return _group(rng, vocab, japanese, (lo, hi))

    shape = rng.random()
    if shape < 0.35:
        query = " AND ".join(g(2, 5) for _ in range(rng.randint(2, 3)))
    elif shape < 0.5:
        query = f"{g(1, 2)} NEAR/{rng.randint(3, 10)} {g(1, 3)}"
    elif shape < 0.6:
        query = f"title:{g(1, 3)} AND {g(2, 4)}"
    elif shape < 0.7:
        query = f"ATLEAST({rng.randint(2, 3)}, {g(2, 4)}) AND {g(1, 3)}"
    elif shape < 0.8:
        query = f"({_term(rng, vocab, japanese)} AND {g(1, 3)}) OR {_term(rng, vocab, japanese)}"
    elif shape < 0.9:
        query = f"{g(1, 3)} {g(1, 3)} NOT {g(1, 2)}"
    else:
        query = f"{g(2, 4)} AND ({g(1, 3)} NEAR/5 {g(1, 3)})"
    if rng.random() < 0.05:
        query += f" AND NOT source:{rng.choice(_OUTLETS)}"
    return query


def make_rules(rng: random.Random, vocab: _Vocab, count: int) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for i in range(count):
        japanese = rng.random() < 0.1
        query = _query(rng, vocab, japanese)
        rule_id = f"bench-{i:04d}"
        severity = rng.choice(["high", "medium", "low"])
        rules.append(
            Rule(
                id=rule_id,
                name=f"Benchmark rule {i}",
                severity=severity,
                query=query,
                node=parse_query(query),
                route=None,
                examples=(),
                counter_examples=(),
                enabled=True,
                path=Path(f"bench/{rule_id}.yaml"),
                version=rule_version(rule_id, severity, query),
            )
        )
    return tuple(rules)


def _positive_terms(node: Node) -> list[Term]:
    """The terms not under a NOT: planting them makes most rules fire."""
    if isinstance(node, Not):
        return []
    if isinstance(node, Term):
        return [node]
    children: list[Node] = []
    for attr in ("children", "child", "left", "right"):
        value = getattr(node, attr, None)
        if isinstance(value, tuple):
            children.extend(value)
        elif value is not None:
            children.append(value)
    return [t for c in children for t in _positive_terms(c)]


def _plain(term: Term) -> str:
    """Text that contains `term` (a prefix gets a completion)."""
    text = term.text.strip('"').rstrip("*")
    return text + "ing" if term.text.endswith("*") else text


def _english(rng: random.Random, vocab: _Vocab, zipf: _Zipf, planted: list[str]) -> str:
    out: list[str] = []
    size = 0
    pending = list(planted)
    while size < ARTICLE_CHARS:
        words = [vocab.general[i] for i in zipf.draw(rng, rng.randint(8, 24))]
        if rng.random() < 0.25:
            words[rng.randrange(len(words))] = rng.choice(vocab.names).capitalize()
        if rng.random() < 0.1:
            words[rng.randrange(len(words))] = str(rng.randint(2, 2_030))
        if rng.random() < 0.08:
            k = rng.randrange(len(words) - 1)
            words[k : k + 2] = [words[k] + "-" + words[k + 1]]
        if pending and rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), pending.pop())
        if rng.random() < 0.3:
            words[rng.randrange(1, len(words))] += ","
        # Typographic punctuation, as in real copy: almost no article is ASCII.
        if rng.random() < 0.2:
            words[0] = "\u201c" + words[0]
            words[-1] += ",\u201d"
        if rng.random() < 0.1:
            words[rng.randrange(len(words))] += "\u2019s"
        if rng.random() < 0.1:
            words.insert(rng.randrange(1, len(words)), "\u2014")
        sentence = " ".join(words)
        sentence = sentence[0].upper() + sentence[1:] + "."
        out.append(sentence)
        size += len(sentence) + 1
        if rng.random() < 0.15:
            out.append("\n\n")
    out.extend(pending)
    return " ".join(out)


def _japanese(rng: random.Random, vocab: _Vocab, zipf: _Zipf, planted: list[str]) -> str:
    out: list[str] = []
    size = 0
    pending = list(planted)
    while size < ARTICLE_CHARS:
        words = [vocab.ja_general[i % len(vocab.ja_general)] for i in zipf.draw(rng, 6)]
        if rng.random() < 0.2:
            words.append(rng.choice(vocab.ja_domain))
        if pending and rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), pending.pop())
        sentence = "".join(w + rng.choice(_PARTICLES) for w in words) + "。"
        out.append(sentence)
        size += len(sentence)
    out.extend(pending)
    return "".join(out)


def make_docs(
    rng: random.Random, vocab: _Vocab, rules: tuple[Rule, ...], count: int, on_topic: float
) -> tuple[Document, ...]:
    zipf = _Zipf(len(vocab.general))
    docs: list[Document] = []
    for _ in range(count):
        planted: list[str] = []
        title_terms: list[str] = []
        if rules and rng.random() < on_topic:
            for rule in rng.sample(rules, k=min(len(rules), rng.randint(1, 2))):
                terms = [_plain(t) for t in _positive_terms(rule.node)]
                planted += terms * 2  # twice: satisfies most ATLEAST(n, ...) with n <= 2
                title_terms += terms[:2] if "title:" in rule.query else []
        japanese = rng.random() < 0.1
        if not planted:  # near misses: a few terms of other rules, in the document's script
            stray = [
                _plain(t)
                for r in rng.sample(rules, k=min(len(rules), 4))
                for t in terms_of(r.node)
                if japanese or t.text.isascii()
            ]
            planted += rng.sample(stray, k=min(len(stray), rng.randint(0, 6)))
        if japanese:
            text = _japanese(rng, vocab, zipf, planted)
            title = "".join(rng.sample(vocab.ja_general, 4)) + "".join(title_terms)
        else:
            rng.shuffle(planted)
            text = _english(rng, vocab, zipf, planted)
            title_words = [vocab.general[i] for i in zipf.draw(rng, rng.randint(6, 12))]
            title = " ".join(title_words + title_terms).capitalize()
        outlet = rng.choice(_OUTLETS)
        docs.append(Document(title=title, text=text, source=outlet, url=f"https://{outlet}/a"))
    return tuple(docs)


def make_workload(
    rules: int = 1_000, docs: int = 1_000, *, seed: int = 20_261_120, on_topic: float = 0.2
) -> Workload:
    """The benchmark's workload: `rules` rules and `docs` articles from `seed`."""
    rng = random.Random(seed)
    vocab = _vocab(rng)
    made_rules = make_rules(rng, vocab, rules)
    made_docs = make_docs(rng, vocab, made_rules, docs, on_topic)
    return Workload(rules=made_rules, docs=made_docs, seed=seed, on_topic=on_topic)
