"""The console's pages: aiohttp handlers that read the database and render templates.

Every page is a GET that reads (the only POSTs are `/login` and `/logout`,
which set or clear the session cookie and change nothing on the server).
Database work runs in a thread (`asyncio.to_thread`), never on the loop the
daemon's jobs share. Templates are Jinja2 with autoescaping on: untrusted
text (titles, article text, errors, queries) is escaped, and only the
`Markup` built by `highlight`, `chart` and the templates themselves is not.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from watcher.daemon.console.access import (
    COOKIE,
    SESSION_SECONDS,
    check_request,
    make_session,
    safe_next,
)
from watcher.daemon.console.chart import hits_chart
from watcher.daemon.console.highlight import excerpts, marked, spans_in
from watcher.daemon.console.redact import redact
from watcher.errors import ConfigError, RuleError
from watcher.model import Document, TermMatch
from watcher.pipeline.preview import PreviewResult, preview
from watcher.rules.active import RuleSnapshot
from watcher.rules.load import Rule, load_rules_and_sets
from watcher.rules.match import compile_rules, match
from watcher.rules.parse import QuerySyntaxError, parse_query
from watcher.settings import parse_duration
from watcher.store.console_queries import (
    articles_by_id,
    hits_by_day,
    recent_ops_notices,
    recent_stories,
    rule_activity,
    story_detail,
)
from watcher.store.db import Database
from watcher.store.search_index import search_ids
from watcher.store.sources import source_statuses
from watcher.text.normalize import skeleton_of

__all__ = ["ConsoleDeps", "add_console"]

HERE = Path(__file__).parent
PAGE_SIZE = 25
CHART_DAYS = 30
PREVIEW_SHOWN = 50
MAX_SINCE = timedelta(days=366)
_SEARCH_TERMS = re.compile(r'"([^"]*)"|(\S+)')

Precision = Callable[[str], float | None]


@dataclass(frozen=True)
class ConsoleDeps:
    """What the console reads: the database, the rules in force, what to redact.

    `precision(rule_id)` gives a rule's precision from analysts' judgments;
    None (the default until judgments are stored) leaves the column out.
    """

    db: Database
    rules: Callable[[], RuleSnapshot]  # the rules in force, as the daemon matches them
    rules_dir: Path  # term sets for previews: rules_dir/terms
    token: str | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    precision: Precision | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def parse_since(text: str | None, default: timedelta = timedelta(days=30)) -> timedelta:
    """`30d`, `12h`, `2w` (the durations of `watcher.toml`, at most a year) -> a
    timedelta; ValueError otherwise."""
    if not text:
        return default
    try:
        value = parse_duration(text, where="since")
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    if value > MAX_SINCE:
        raise ValueError("since: at most 366 days")
    return value


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M") + " UTC" if d else "—"
    env.globals["marked"] = marked
    env.globals["excerpts"] = excerpts
    env.globals["spans_in"] = spans_in
    env.globals["title_spans_of"] = lambda hits: [
        span for h in hits for span in spans_in(h.matches, "title")
    ]
    return env


class Console:
    """The handlers of every console page, sharing one template environment."""

    def __init__(self, deps: ConsoleDeps) -> None:
        self.deps = deps
        self.env = _environment()

    # --- helpers ----------------------------------------------------------------------

    def render(self, name: str, status: int = 200, **context: Any) -> web.Response:
        context.setdefault("login_enabled", bool(self.deps.token))
        body = self.env.get_template(name).render(**context)
        return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")

    async def read(self, work: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(work)

    # --- access -----------------------------------------------------------------------

    @web.middleware
    async def guard(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        verdict = check_request(
            self.deps.token,
            request.path,
            request.headers.get("Authorization"),
            request.cookies.get(COOKIE),
        )
        if verdict.status == 200:
            response: web.StreamResponse = await handler(request)
        else:
            response = self.render(
                "login.html",
                status=verdict.status,
                error=verdict.reason if verdict.status == 403 else "",
                next=request.path_qs,
            )
            if verdict.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="watcher"'
        if request.path not in ("/healthz", "/metrics"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                "form-action 'self'; base-uri 'none'",
            )
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def login_form(self, request: web.Request) -> web.Response:
        return self.render("login.html", error="", next=safe_next(request.query.get("next")))

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        given = str(form.get("token", ""))
        target = safe_next(str(form.get("next", "/")))
        token = self.deps.token
        if not token:
            raise web.HTTPFound(target)
        if check_request(token, "/", f"Bearer {given}", None).status != 200:
            return self.render("login.html", status=403, error="wrong token", next=target)
        response = web.HTTPSeeOther(target)
        response.set_cookie(
            COOKIE,
            make_session(token),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="Strict",
            path="/",
        )
        raise response

    async def logout(self, _request: web.Request) -> web.Response:
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    # --- pages ------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        page = _page_number(request)
        now = self.deps.clock()
        first = (now - timedelta(days=CHART_DAYS - 1)).date()
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)

        def work() -> tuple[int, list[Any], dict[str, Any]]:
            with self.deps.db.session() as session:
                total, stories = recent_stories(
                    session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
                )
                return total, stories, hits_by_day(session, start)

        total, stories, counts = await self.read(work)
        return self.render(
            "index.html",
            stories=stories,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            chart=hits_chart(counts, first, CHART_DAYS),
            chart_days=CHART_DAYS,
        )

    async def story(self, request: web.Request) -> web.Response:
        story_id = int(request.match_info["id"])
        detail = await self.read(lambda: self._story(story_id))
        if detail is None:
            return self.render("error.html", status=404, message=f"no story {story_id}")
        return self.render("story.html", story=detail)

    def _story(self, story_id: int) -> Any:
        with self.deps.db.session() as session:
            return story_detail(session, story_id)

    async def sources(self, _request: web.Request) -> web.Response:
        now = self.deps.clock()

        def work() -> tuple[list[Any], list[Any]]:
            with self.deps.db.session() as session:
                return source_statuses(session, now), recent_ops_notices(session)

        statuses, notices = await self.read(work)
        secrets = self.deps.secrets

        def clean(text: str | None) -> str:
            return redact(text, secrets)

        return self.render("sources.html", sources=statuses, notices=notices, clean=clean, now=now)

    async def rules(self, _request: web.Request) -> web.Response:
        snapshot = self.deps.rules()
        since = self.deps.clock() - timedelta(days=CHART_DAYS)

        def work() -> dict[str, Any]:
            with self.deps.db.session() as session:
                return rule_activity(session, since)

        activity = await self.read(work)
        precision = self.deps.precision
        return self.render(
            "rules.html",
            rules=snapshot.rules,
            activity=activity,
            days=CHART_DAYS,
            precision={r.id: precision(r.id) for r in snapshot.rules} if precision else None,
        )

    async def rule(self, request: web.Request) -> web.Response:
        rule_id = request.match_info["id"]
        found = next((r for r in self.deps.rules().rules if r.id == rule_id), None)
        if found is None:
            return self.render("error.html", status=404, message=f"no rule {rule_id!r}")
        now = self.deps.clock()
        first = (now - timedelta(days=CHART_DAYS - 1)).date()
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)

        def work() -> dict[str, Any]:
            with self.deps.db.session() as session:
                return hits_by_day(session, start, rule_id)

        counts = await self.read(work)
        precision = self.deps.precision(rule_id) if self.deps.precision else None
        return self.render(
            "rule.html",
            rule=found,
            chart=hits_chart(counts, first, CHART_DAYS),
            hits=sum(counts.get(rule_id, {}).values()),
            days=CHART_DAYS,
            precision=precision,
            show_precision=self.deps.precision is not None,
        )

    async def rule_preview(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        since_text = request.query.get("since", "30d")
        rule_id = request.query.get("rule", "")
        rules = self.deps.rules().rules
        context: dict[str, Any] = {
            "query": query,
            "since": since_text,
            "rule_id": rule_id,
            "rules": rules,
            "error": None,
            "result": None,
            "fragment": request.query.get("fragment") == "1",
        }
        current = next((r for r in rules if r.id == rule_id), None) if rule_id else None
        status = 200
        if rule_id and current is None:
            context["error"] = {"message": f"no rule {rule_id!r} in force", "column": None}
            status = 404
        elif query.strip():
            try:
                window = parse_since(since_text)
            except ValueError as exc:
                context["error"] = {"message": str(exc), "column": None}
                status = 400
            else:
                since = self.deps.clock() - window
                try:
                    context["result"] = await self.read(
                        lambda: self._preview(query, since, current)
                    )
                except QuerySyntaxError as exc:
                    context["error"] = {"message": exc.message, "column": exc.offset + 1}
                    status = 400
                except RuleError as exc:
                    context["error"] = {"message": f"term sets: {exc}", "column": None}
                    status = 500
        name = "preview_results.html" if context["fragment"] else "preview.html"
        return self.render(name, status=status, **context)

    def _preview(self, query: str, since: datetime, current: Rule | None) -> PreviewResult:
        _rules, sets = load_rules_and_sets(self.deps.rules_dir)
        return preview(
            self.deps.db, query, since=since, sets=sets, current=current, shown=PREVIEW_SHOWN
        )

    async def search(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "")
        page = _page_number(request)
        terms = [
            (phrase or word).strip()
            for phrase, word in _SEARCH_TERMS.findall(q)
            if (phrase or word).strip()
        ]
        skeletons = [s for s in (skeleton_of(t) for t in terms) if s]
        if not skeletons:
            return self.render("search.html", q=q, results=[], total=0, page=1, pages=1)

        def work() -> tuple[int, list[Any]]:
            with self.deps.db.session() as session:
                found = search_ids(
                    session, skeletons, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
                )
                return found.total, articles_by_id(session, found.ids)

        total, articles = await self.read(work)
        results = [(a, _term_spans(terms, a.title, a.text or a.summary)) for a in articles]
        return self.render(
            "search.html",
            q=q,
            results=results,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
        )


def _term_spans(terms: list[str], title: str, body: str) -> tuple[TermMatch, ...]:
    """The search terms' occurrences in title and body, found by the rules' matcher
    (the same normalisation and highlights as hits): a query of the terms as phrases."""
    quoted = " OR ".join('"' + t.replace('"', " ") + '"' for t in terms)
    try:
        node = parse_query(quoted)
    except QuerySyntaxError:
        return ()
    probe = Rule(
        id="search",
        name="search",
        severity="low",
        query=quoted,
        node=node,
        route=None,
        examples=(),
        counter_examples=(),
        enabled=True,
        path=Path("<search>"),
        version="",
    )
    hits = match(compile_rules([probe]), Document(title=title, text=body))
    return hits[0].matches if hits else ()


def add_console(app: web.Application, deps: ConsoleDeps) -> Console:
    """Mount the console's routes, static files and access check on `app`."""
    console = Console(deps)
    app.middlewares.append(console.guard)
    app.router.add_get("/", console.index)
    app.router.add_get("/stories/{id:\\d+}", console.story)
    app.router.add_get("/sources", console.sources)
    app.router.add_get("/rules", console.rules)
    app.router.add_get("/rules/preview", console.rule_preview)
    app.router.add_get("/rules/{id}", console.rule)
    app.router.add_get("/search", console.search)
    app.router.add_get("/login", console.login_form)
    app.router.add_post("/login", console.login)
    app.router.add_post("/logout", console.logout)
    app.router.add_static("/static/", HERE / "static", show_index=False)
    return console
