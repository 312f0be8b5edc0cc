"""Rules: the query language, rule files, matching and rule tests.

parse_query(text) -> Node                     watcher.rules.parse
load_rules(rules_dir) -> list[Rule]           watcher.rules.load
compile_rules(rules) -> Matcher               watcher.rules.match (pure)
match(matcher, document) -> list[Hit]         watcher.rules.match (pure)
load_corpus(dir) -> Corpus                    watcher.rules.corpus
evaluate(matcher, corpus) -> list[RuleScore]  watcher.rules.corpus
check_examples(rules, root) -> list[ExampleResult]
"""

from watcher.rules.corpus import (
    Corpus,
    CorpusDoc,
    ExampleResult,
    RuleScore,
    check_examples,
    evaluate,
    load_corpus,
)
from watcher.rules.load import Rule, load_rules
from watcher.rules.match import Matcher, compile_rules, match
from watcher.rules.parse import QuerySyntaxError, parse_query

__all__ = [
    "Corpus",
    "CorpusDoc",
    "ExampleResult",
    "Matcher",
    "QuerySyntaxError",
    "Rule",
    "RuleScore",
    "check_examples",
    "compile_rules",
    "evaluate",
    "load_corpus",
    "load_rules",
    "match",
    "parse_query",
]
