"""The package layout is the architecture: imports only point down, and never in a circle.

The layers, top to bottom (a module may import its own package and any
layer below its own, never one above, and never a sibling stage):

    cli                                 the command line
    daemon                              the long-running service and its assembly
    pipeline                            the stages in order; the only user of store besides
                                        daemon and cli
    ingest | extract | stories | rules | alerts
                                        the stages, independent of each other
    store                               all SQL (used by pipeline, daemon and cli only)
    text                                text and URL helpers every stage shares
    model, errors, settings, metrics, log
                                        values, exceptions and process-wide instruments

`watcher.config` reads the file and the environment; only the CLI imports it.
Every import counts: module level, inside functions (lazy) and under
`TYPE_CHECKING`, because each is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "watcher"

FOUNDATION = {"model", "errors", "settings", "metrics", "log", "__init__", "__main__"}
STAGES = {"ingest", "extract", "stories", "rules", "alerts"}
# For each top-level part, the parts it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "text": {"foundation"},
    "store": {"foundation", "text"},
    **{stage: {"foundation", "text"} for stage in STAGES},
    "pipeline": {"foundation", "text", "store", *STAGES},
    "daemon": {"foundation", "text", "store", "pipeline", *STAGES},
    "cli": {"foundation", "text", "store", "pipeline", "daemon", "config", *STAGES},
    "config": {"foundation"},
}
MAX_LOOSE_MODULES = 8


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (migrations excluded: alembic loads them)."""
    return {
        module_name(p): p
        for p in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in p.relative_to(PACKAGE).parts
    }


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The watcher module `name` refers to (a submodule if it is one), else None."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported watcher module, line) for every import statement anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("watcher"):
                    target = resolve(alias.name, known)
                    if target:
                        yield target, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("watcher"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                target = sub if sub in known else resolve(node.module, known)
                if target:
                    yield target, node.lineno


def part_of(module: str) -> str:
    """The layer a module belongs to: its first package under watcher, or foundation."""
    parts = module.split(".")
    if len(parts) == 1:
        return "foundation"
    head = parts[1]
    if head == "__main__":
        return "cli"  # `python -m watcher` is the command line
    if head in FOUNDATION:
        return "foundation"
    return head


def graph() -> dict[str, list[tuple[str, int]]]:
    known = modules()
    return {name: list(imports_of(path, known)) for name, path in known.items()}


def test_every_module_belongs_to_a_known_layer() -> None:
    """A new top-level package must be placed in the layer table before it is used."""
    unknown = {part_of(m) for m in modules()} - set(ALLOWED)
    assert not unknown, f"add these to the layer table in {__file__}: {sorted(unknown)}"


def test_imports_point_down_the_layers() -> None:
    """No module imports a layer above its own or a sibling stage (lazy imports included)."""
    bad = []
    for module, targets in graph().items():
        own = part_of(module)
        for target, line in targets:
            other = part_of(target)
            if other != own and other not in ALLOWED[own]:
                path = modules()[module].relative_to(PACKAGE.parent)
                bad.append(f"{path}:{line}: {module} ({own}) imports {target} ({other})")
    assert not bad, "\n".join(bad)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated at the end), else None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_finds_a_planted_cycle() -> None:
    """The checker itself: a cycle through three modules is reported, a chain is not."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles() -> None:
    """No two modules depend on each other, directly or through others, lazily or not.

    A package's `__init__` re-exporting its submodules is not counted as an
    edge from a submodule to its package (Python imports the package first).
    """
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        edges[module] = {t for t, _ in targets if t != module and not module.startswith(t + ".")}
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle or [])


def test_only_the_cli_reads_the_config_file() -> None:
    """`watcher.config` (file and environment) is imported by the command line only."""
    users = sorted(
        m for m, targets in graph().items() if any(t == "watcher.config" for t, _ in targets)
    )
    assert users, "nothing imports watcher.config: the test is looking in the wrong place"
    assert all(part_of(m) == "cli" for m in users), users


def test_only_config_reads_the_environment() -> None:
    """`os.environ` and `os.getenv` appear in `watcher/config.py` and nowhere else."""
    readers = []
    for module, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv", "environb")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                readers.append(f"{module}:{node.lineno}")
    assert readers, "no os.environ found at all: the test is looking in the wrong place"
    assert all(r.startswith("watcher.config:") for r in readers), readers


def test_at_most_eight_modules_loose_at_the_top() -> None:
    """The top of the package holds the shared foundation only; stages are packages."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= MAX_LOOSE_MODULES, loose


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_is_a_package(stage: str) -> None:
    """Each stage named in the layer table exists as a package with a docstring."""
    init = PACKAGE / stage / "__init__.py"
    assert init.is_file()
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
