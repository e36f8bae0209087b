"""`botsvc` command line: thin commands over the same functions the API uses.

Exit codes: 0 ok, 1 a domain failure (invalid project, failed tests), 2 a usage error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from botsvc.errors import BotError, ConfigError, ProjectError

if TYPE_CHECKING:
    from botsvc.store import Store

T = TypeVar("T")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="botsvc: hybrid support chatbot")
kb_app = typer.Typer(no_args_is_help=True, help="Knowledge base: build the index, search it.")
eval_app = typer.Typer(no_args_is_help=True, help="Measure intents and retrieval on test data.")
outbox_app = typer.Typer(no_args_is_help=True, help="Webhook outbox: list, retry dead letters.")
customer_app = typer.Typer(no_args_is_help=True, help="A customer's data: export, erase (GDPR).")
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
app.add_typer(outbox_app, name="outbox")
app.add_typer(customer_app, name="customer")

ProjectOpt = Annotated[Path, typer.Option("--project", help="folder with intents/, flows/, kb/")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
DEFAULT_PROJECT = Path(os.environ.get("BOTSVC_PROJECT_DIR", "."))


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _settings(project: Path, **overrides: object):  # type: ignore[no-untyped-def]
    from botsvc.config import Settings

    return Settings(project_dir=project, **overrides)  # type: ignore[arg-type]


def _embedder(project: Path):  # type: ignore[no-untyped-def]
    from botsvc.embedding import embedder_for

    e = embedder_for(_settings(project), threads=max(1, os.cpu_count() or 1))
    e.load()  # exports the ONNX encoder into models/encoder/ the first time
    return e


def _fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise Exit(code)


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="where to make the bot")] = Path("."),
) -> None:
    """Make a small working bot to start from (intents, flows, KB articles, tests)."""
    from botsvc.scaffold import init_project

    written = init_project(folder)
    typer.echo(f"made a bot in {folder.resolve()} ({len(written)} files). Next:")
    typer.echo(f"  cd {folder} && botsvc train && botsvc kb build && botsvc test && botsvc shell")


@app.command()
def validate(project: ProjectOpt = DEFAULT_PROJECT, as_json: JsonOpt = False) -> None:
    """Check intents/, flows/ and the escalation rules; print every problem with file:line."""
    from botsvc.project import check_project, kb_floor_problems

    try:
        files = check_project(project.resolve())
    except ProjectError as exc:
        if as_json:
            typer.echo(
                json.dumps({"ok": False, "problems": [p.__dict__ for p in exc.problems]}, indent=2)
            )
        else:
            for p in exc.problems:
                typer.echo(str(p))
            errors = sum(p.severity == "error" for p in exc.problems)
            typer.echo(f"{errors} error(s): the project is invalid.")
        raise Exit(1) from None
    if as_json:
        typer.echo(
            json.dumps({"ok": True, "problems": [p.__dict__ for p in files.warnings]}, indent=2)
        )
        return
    for w in [*files.warnings, *kb_floor_problems(project.resolve(), files.spec)]:
        typer.echo(str(w))
    typer.echo(
        f"OK: {len(files.training.intents)} intents, {len(files.training.examples)} examples, "
        f"{len(files.spec.flows)} flows, {len(files.spec.responses)} responses."
    )


@app.command()
def train(
    project: ProjectOpt = DEFAULT_PROJECT,
    force: Annotated[bool, typer.Option(help="retrain even if nothing changed")] = False,
) -> None:
    """Train the intent model (only when the training data or the embedding model changed)."""
    from botsvc.nlu.classifier import train_or_load
    from botsvc.project import build_derived, check_project

    files = check_project(project.resolve())
    started = time.perf_counter()
    embedder = _embedder(project)
    model, trained = train_or_load(
        files.training, embedder, project.resolve() / "models", force=force, progress=True
    )
    build_derived(project.resolve(), files, embedder)  # the entity CRF, the flows' vectors
    took = time.perf_counter() - started
    if trained:
        typer.echo(
            f"trained intent model {model.key} ({len(model.intents)} intents, "
            f"threshold {model.threshold:.3f}) in {took:.1f}s"
        )
    else:
        typer.echo(f"intent model {model.key} is up to date")


@kb_app.command("build")
def kb_build(project: ProjectOpt = DEFAULT_PROJECT) -> None:
    """Build kb_index/ from kb/, or a Rasa Pro project's docs/ (incremental: unchanged chunks
    are not embedded again)."""
    from botsvc.kb.index import build_index
    from botsvc.project import check_project, kb_floor_problems, kb_folder

    p = project.resolve()
    report = build_index(kb_folder(p), p / "kb_index", _embedder(project), progress=True)
    typer.echo(str(report))
    with contextlib.suppress(ProjectError):
        for w in kb_floor_problems(p, check_project(p).spec):
            typer.echo(str(w))


@kb_app.command("search")
def kb_search(
    query: str,
    project: ProjectOpt = DEFAULT_PROJECT,
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid | dense | lexical")] = "hybrid",
    as_json: JsonOpt = False,
) -> None:
    """Print the ranked hits for a query, with scores, and whether the KB would answer."""
    from botsvc.kb.retrieval import KnowledgeBase

    if mode not in ("hybrid", "dense", "lexical"):
        _fail("--mode must be hybrid, dense or lexical", 2)
    embedder = _embedder(project)
    kb = KnowledgeBase.load(project.resolve() / "kb_index", model_id=embedder.model_id)
    vector = embedder.encode([query])[0]
    hits = kb.search(query, vector, top_k=top_k, mode=mode)  # type: ignore[arg-type]
    answer = kb.answer(query, vector)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "results": [h.__dict__ for h in hits],
                    "answer": None if answer is None else answer.text,
                },
                indent=2,
            )
        )
        return
    for i, h in enumerate(hits, 1):
        typer.echo(
            f"{i:>2}. {h.score:.4f}  {h.title}"
            + (f" › {h.section}" if h.section else "")
            + f"  [{h.id}]"
            + (f"  {h.url}" if h.url else "")
        )
        typer.echo(f"      {h.text[:160]}")
    typer.echo(
        f"answer (threshold {kb.threshold:.3f}): "
        + ("declined, nothing fits" if answer is None else answer.text)
    )


@eval_app.command("intents")
def eval_intents(
    test: Annotated[Path, typer.Option("--test", help="Rasa YAML or CSV text,label")],
    project: ProjectOpt = DEFAULT_PROJECT,
    as_json: JsonOpt = False,
) -> None:
    """Accuracy, macro-F1, per-intent precision/recall, confusions, out-of-scope recall."""
    from botsvc.nlu.classifier import load_current
    from botsvc.nlu.evaluate import evaluate_intents, format_report, report_as_dict
    from botsvc.nlu.parser import NluParser
    from botsvc.project import check_project, entity_extractor

    files = check_project(project.resolve())
    embedder = _embedder(project)
    model = load_current(files.training, embedder.model_id, project.resolve() / "models")
    parser = NluParser(model=model, extractor=entity_extractor(files))
    report = evaluate_intents(model=model, parser=parser, embedder=embedder, test_file=test)
    typer.echo(json.dumps(report_as_dict(report), indent=2) if as_json else format_report(report))


@eval_app.command("kb")
def eval_kb(
    queries: Annotated[Path, typer.Option("--queries", help="JSONL query, relevant_ids")],
    project: ProjectOpt = DEFAULT_PROJECT,
    as_json: JsonOpt = False,
) -> None:
    """P@1, recall@5, MRR, nDCG@10 for dense, lexical and hybrid retrieval side by side."""
    from botsvc.kb.evaluate import evaluate_kb, format_kb_report, kb_report_as_dict
    from botsvc.kb.retrieval import KnowledgeBase

    embedder = _embedder(project)
    kb = KnowledgeBase.load(project.resolve() / "kb_index", model_id=embedder.model_id)
    report = evaluate_kb(kb, embedder, queries)
    typer.echo(
        json.dumps(kb_report_as_dict(report), indent=2) if as_json else format_kb_report(report)
    )


@app.command("test")
def test_conversations(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="test files or folders, ours or Rasa e2e (default: tests/conversations/)"
        ),
    ] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    select: Annotated[
        str | None, typer.Option("-k", help="only tests whose name contains this")
    ] = None,
    action_endpoint: Annotated[
        str | None, typer.Option(help="action server URL (default: flows/ actions.endpoint)")
    ] = None,
) -> None:
    """Run conversation tests (ours, or Rasa's e2e `test_cases`) through the real pipeline."""
    from botsvc.convtests.format import format_report
    from botsvc.convtests.runner import run_project_tests

    settings = _settings(project)
    reports = asyncio.run(
        run_project_tests(
            settings.project_dir,
            embedder=_embedder(project),
            action_endpoint=action_endpoint or settings.action_endpoint,
            select=select,
            paths=[p.resolve() for p in paths or []],
        )
    )
    typer.echo(format_report(reports))
    if not reports or not all(r.passed for r in reports):
        raise Exit(1)


@app.command()
def serve(
    project: ProjectOpt = DEFAULT_PROJECT,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="as in `rasa run`")] = 8000,
    prepare: Annotated[bool, typer.Option(help="train and build kb_index/ first if stale")] = False,
    workers: Annotated[
        int, typer.Option(help="processes, each with its own model and one encoder thread")
    ] = 1,
    watch: Annotated[
        bool, typer.Option(help="reload on file changes; admin routes open on loopback")
    ] = False,
) -> None:
    """Serve the HTTP API. Refuses to start on an invalid project, and says why."""
    import uvicorn

    from botsvc.api.app import create_app
    from botsvc.logs import configure_logging
    from botsvc.project import check_project, prepare_project

    settings = _settings(project, watch=watch)
    if not settings.public_url:  # reply URLs follow the address served
        served = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        settings = settings.model_copy(update={"public_url": f"http://{served}:{port}"})
    try:
        check_project(settings.project_dir)
    except ProjectError as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        _fail("refusing to serve an invalid project (run `botsvc validate`)")
    configure_logging(settings.redactor, fmt=settings.log_format, level=settings.log_level)
    if prepare:
        for line in prepare_project(settings.project_dir, _embedder(project)):
            typer.echo(line)
    if not settings.api_keys:
        typer.echo("warning: BOTSVC_API_KEYS is unset: the API needs no key", err=True)
    if settings.handoff_webhook_url and not settings.handoff_secret:
        typer.echo(
            "warning: BOTSVC_HANDOFF_SECRET is unset: webhooks go out unsigned, and anyone "
            "can forge them to your helpdesk",
            err=True,
        )
    if workers > 1:
        # each worker process builds its own app from the environment (the same settings)
        os.environ["BOTSVC_PROJECT_DIR"] = str(settings.project_dir)
        os.environ["BOTSVC_WATCH"] = "true" if watch else "false"
        os.environ["BOTSVC_PUBLIC_URL"] = settings.public_url
        uvicorn.run(
            "botsvc.api.app:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_config=None,  # the workers log as app_from_environment configures
            access_log=False,  # one event per turn instead (api/routes/conversations.py)
            loop="uvloop",
            http="httptools",
        )
        return
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,  # configure_logging's JSON lines, redacted
        access_log=False,  # one event per turn instead (api/routes/conversations.py)
        loop="uvloop",
        http="httptools",
    )


@app.command()
def shell(
    project: ProjectOpt = DEFAULT_PROJECT,
    action_endpoint: Annotated[
        str | None, typer.Option(help="action server URL (default: flows/ actions.endpoint)")
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="a line per turn: intent, flow, decision, ms")
    ] = False,
    sender: Annotated[
        str | None, typer.Option(help="customer and conversation id (default: a new one)")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="database URL (default: a temporary SQLite file)")
    ] = None,
) -> None:
    """Chat with the bot in the terminal (or from piped input): /restart, /quit, Ctrl-D."""
    from botsvc.project import check_project, prepare_project
    from botsvc.shell import ShellOptions, run_shell

    settings = _settings(project)
    try:
        files = check_project(settings.project_dir)
    except ProjectError as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        _fail("refusing to chat with an invalid project (run `botsvc validate`)")
    embedder = _embedder(project)
    # as `make prepare` would: a stale or missing intent model or kb_index/ is rebuilt first
    for line in prepare_project(settings.project_dir, embedder, files=files):
        typer.echo(line)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C during a turn ends the shell too
        asyncio.run(
            run_shell(
                settings.project_dir,
                embedder=embedder,
                options=ShellOptions(sender=sender, debug=debug),
                database_url=db,
                action_endpoint=action_endpoint or settings.action_endpoint,
            )
        )


@app.command()
def dispatch(project: ProjectOpt = DEFAULT_PROJECT) -> None:
    """Run the outbox dispatcher as a separate worker (several may run at once)."""
    import httpx

    from botsvc.helpdesk.delivery import dispatcher_from_settings
    from botsvc.logs import configure_logging
    from botsvc.store import open_store

    settings = _settings(project)
    if not settings.handoff_webhook_url:
        _fail("BOTSVC_HANDOFF_WEBHOOK_URL is not set: nothing to deliver to", 2)
    configure_logging(settings.redactor, fmt=settings.log_format, level=settings.log_level)

    async def run() -> None:
        store = open_store(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        await store.open()
        async with httpx.AsyncClient() as http:
            d = dispatcher_from_settings(settings, store=store, http=http)
            typer.echo(f"dispatching to {settings.handoff_webhook_url} as {d.owner}")
            try:
                await d.run_forever()
            finally:
                await store.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@app.command()
def report(
    project: ProjectOpt = DEFAULT_PROJECT,
    since: Annotated[str, typer.Option(help="7d, 24h, or an ISO date")] = "7d",
    until: Annotated[str | None, typer.Option(help="default: now")] = None,
    channel: Annotated[str | None, typer.Option(help="one channel's conversations")] = None,
    fcr_days: Annotated[float, typer.Option(help="a repeat within this is no FCR")] = 7.0,
    clusters: Annotated[
        bool, typer.Option(help="group the unanswered questions (loads the encoder)")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """The bot's figures from the store (containment, escalation, FCR, CSAT, fallbacks, intents,
    the flows' funnel) and the unanswered questions, grouped."""
    from botsvc.report import cluster_json, figures_json, parse_when, print_clusters, print_figures
    from botsvc.store import Figures, FigureWindow, UnansweredMessage, open_store
    from botsvc.unanswered import cluster_unanswered

    settings = _settings(project)
    window = FigureWindow(
        since=parse_when(since),
        until=parse_when(until) if until else time.time(),
        channel=channel,
        fcr_window_s=fcr_days * 86400,
    )

    async def read() -> tuple[Figures, list[UnansweredMessage]]:
        store = open_store(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        await store.open()
        try:
            gaps = await store.unanswered(since=window.since, until=window.until)
            return await store.figures(window), gaps if clusters else []
        finally:
            await store.close()

    figures, gaps = asyncio.run(read())
    groups = (
        cluster_unanswered(gaps, _embedder(project), since=window.since, until=window.until)
        if clusters and gaps
        else []
    )
    if as_json:
        out = {**figures_json(figures), "clusters": [cluster_json(c) for c in groups]}
        typer.echo(json.dumps(out, indent=2))
    else:
        print_figures(figures)
        if clusters:
            print_clusters(groups)


@app.command()
def purge(
    project: ProjectOpt = DEFAULT_PROJECT,
    older_than: Annotated[
        str | None, typer.Option(help="idle this long: 90d (default: BOTSVC_RETENTION_DAYS)")
    ] = None,
    delete: Annotated[
        bool, typer.Option("--delete/--anonymise", help="delete, or keep them anonymised")
    ] = False,
) -> None:
    """Delete or anonymise conversations idle for longer than the retention age."""
    from botsvc.report import parse_when
    from botsvc.store import PurgeResult

    settings = _settings(project)
    if older_than is None and settings.retention_days is None:
        _fail("say --older-than 90d, or set BOTSVC_RETENTION_DAYS", 2)
    idle_before = (
        parse_when(older_than) if older_than else time.time() - settings.retention_days * 86400
    )

    async def run(store: Store) -> PurgeResult:
        return await store.purge(idle_before=idle_before, anonymise=not delete)

    r = _with_store(settings, run)
    typer.echo(
        f"deleted {r.deleted}, anonymised {r.anonymised}; {r.waiting} wait for their webhooks"
    )


@customer_app.command("export")
def customer_export(customer_id: str, project: ProjectOpt = DEFAULT_PROJECT) -> None:
    """Everything stored about a customer, as JSON (GDPR access)."""

    async def run(store: Store) -> dict[str, Any]:
        return await store.customer_data(customer_id)

    typer.echo(json.dumps(_with_store(_settings(project), run), indent=2, default=str))


@customer_app.command("erase")
def customer_erase(
    customer_id: str,
    project: ProjectOpt = DEFAULT_PROJECT,
    yes: Annotated[bool, typer.Option("--yes", help="no question asked")] = False,
) -> None:
    """Delete every conversation of a customer (GDPR erasure)."""
    if not yes and not typer.confirm(f"Delete every conversation of {customer_id!r}?"):
        raise Exit(1)

    async def run(store: Store) -> int:
        return await store.erase_customer(customer_id)

    typer.echo(f"erased {_with_store(_settings(project), run)} conversation(s) of {customer_id}")


def _with_store(settings: Any, work: Callable[[Store], Awaitable[T]]) -> T:
    from botsvc.store import open_store

    async def run() -> T:
        store = open_store(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


@outbox_app.command("list")
def outbox_list(
    project: ProjectOpt = DEFAULT_PROJECT,
    status: Annotated[
        str | None, typer.Option(help="pending|in_flight|retry|delivered|dead")
    ] = None,
    limit: int = 50,
    as_json: JsonOpt = False,
) -> None:
    """List outbox rows, newest first."""
    from botsvc.helpdesk.payloads import iso
    from botsvc.store import open_store

    async def run() -> list:  # type: ignore[type-arg]
        store = open_store(_settings(project).database_url)
        await store.open()
        try:
            return await store.list_outbox(status=status, limit=limit)  # type: ignore[arg-type]
        finally:
            await store.close()

    rows = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
        return
    for r in rows:
        typer.echo(
            f"{r.id}  {r.status:<9} {r.event:<22} attempts={r.attempts} "
            f"conversation={r.conversation_id} next={iso(r.next_attempt_at)}"
            + (f"  error={r.last_error}" if r.last_error else "")
        )
    typer.echo(f"{len(rows)} row(s)")


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[
        list[str] | None, typer.Argument(help="delivery ids; none: all dead rows")
    ] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Put dead rows back in the queue."""
    from botsvc.store import open_store

    async def run() -> int:
        store = open_store(_settings(project).database_url)
        await store.open()
        try:
            return await store.requeue(ids or None, now=time.time())
        finally:
            await store.close()

    typer.echo(f"requeued {asyncio.run(run())} row(s)")


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)
    except Exit as exc:
        return exc.code
    except ProjectError as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        return 1
    except (ConfigError, BotError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 1
    except typer.Abort:
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code)
    except Exception as exc:
        # typer's bundled click raises its usage errors (UsageError and subclasses) when not
        # in standalone mode; they all carry an exit code and a formatted message
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if type(exc).__name__ == "NoArgsIsHelpError":
                typer.echo(exc.format_message(), err=True)
                return 2
            typer.echo(f"error: {exc.format_message()}", err=True)
            return int(exc.exit_code) or 2
        raise
    return 0
