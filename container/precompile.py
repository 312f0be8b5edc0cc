"""Build step of the image: exercise the daemon's code paths once, then compile to
bytecode exactly the modules that loaded, and nothing else.

Run by the Dockerfile's builder stage after the venv is trimmed. Bytecode for
the whole venv is ~60 MB; without any, every process (the daemon, each
`watcher health` of the HEALTHCHECK, the extraction workers' server) compiles
its imports in memory at start (the venv is read-only to the daemon), about
3.5 s of CPU more per daemon start on this project's reference machine. So
only the modules these paths import get bytecode, in `unchecked-hash` mode:
valid whatever the files' timestamps after COPY, and the venv is never edited.

It also fails the build when trimming removed something the pipeline needs:
a sample article must extract (trafilatura, and htmldate for its date) and the
migrations must apply (SQLAlchemy, Alembic) before anything is compiled.
"""

from __future__ import annotations

import compileall
import py_compile
import sys

PAGE = b"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Tokyo weighs a role in AUKUS technology projects</title>
<meta property="article:published_time" content="2026-11-30T09:00:00+00:00"></head>
<body><nav><a href="/">Home</a></nav><main><article>
<h1>Tokyo weighs a role in AUKUS technology projects</h1>
<p>Officials in Tokyo said on Monday that Japan was studying how it could take part in
advanced capability projects under the AUKUS partnership with Australia, Britain and the
United States, including hypersonics, quantum sensing and undersea drones.</p>
<p>No decision has been taken, the officials said, and any participation would depend on
Japan strengthening its rules for protecting classified information.</p>
</article></main><footer>All rights reserved.</footer></body></html>"""


def main() -> int:
    from sqlalchemy.dialects.postgresql import psycopg  # noqa: F401  (the production driver)

    import watcher.cli.health
    import watcher.cli.main
    import watcher.cli.run
    import watcher.daemon.service
    import watcher.extract.worker
    import watcher.pipeline.page_task  # noqa: F401  (the extraction workers' task)
    from watcher.extract.page import extract_page
    from watcher.store.db import open_database

    found = extract_page(PAGE, url="https://example.org/a", content_type="text/html")
    page = found.page
    if page is None or "hypersonics" not in page.text or page.published is None:
        print(f"precompile: extraction does not work: {found!r}", file=sys.stderr)
        return 1
    open_database("sqlite://").dispose()

    venv = sys.prefix
    files = sorted(
        {
            path
            for module in list(sys.modules.values())
            if (path := getattr(module, "__file__", None))
            and path.startswith(venv)
            and path.endswith(".py")
        }
    )
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    ok = all(compileall.compile_file(f, quiet=2, invalidation_mode=mode) for f in files)
    print(f"precompile: {len(files)} modules compiled", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
