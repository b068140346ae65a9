"""``rasd index …`` and ``rasd search``: the search-engine commands of the CLI.

Added to the main app by :func:`register` (``rasd/cli.py`` calls ``cli_index.register(app)``):

* ``rasd index init`` — install the index template and create ``<prefix>-000001`` + alias;
* ``rasd index [backfill] [--from-archive DIR] [--reindex]`` — bring the index up to the archive
  (``<data-dir>/archive``): the index follows the archive from its checkpoint
  (:class:`rasd.pipelines.index.IndexFollower`), with a progress bar; ``--reindex`` builds a new
  index generation from the whole archive and swaps the alias to it (after a template or
  folding change);
* ``rasd index status`` — documents per index, archive lines not yet indexed, rejected lines,
  whether a reindex is due;
* ``rasd search QUERY [--outlet --lang --since --until --limit --sort --json]``.

Errors (engine down, bad query, bad option) are one line on stderr and exit code 2; archive
lines left unindexed after a backfill (the engine went away) give exit code 1.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from rasd.core.errors import ConfigError, RasdError

from rasd.cli.common import console, err, fail as _fail, open_engine as _open  # noqa: E402
index_app = typer.Typer(add_completion=False, invoke_without_command=True,
                        help="Index the archive into the search engine (default: backfill).")

RLI, PDI = "\u2067", "\u2069"  # right-to-left isolate … pop directional isolate






# --- rasd index -------------------------------------------------------------------------------


@index_app.callback()
def index_main(
    ctx: typer.Context,
    from_archive: Annotated[Optional[Path], typer.Option(help="archive directory (default <data-dir>/archive)")] = None,
    reindex: Annotated[bool, typer.Option(help="build a new index from the archive and swap the alias to it")] = False,
    data_dir: Annotated[Optional[Path], typer.Option(help="data directory (archive, follower checkpoints)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Backfill: index every archived article not in the index yet (already indexed ones are
    counted, not duplicated)."""
    if ctx.invoked_subcommand is None:
        _backfill(from_archive, reindex, data_dir, as_json)


@index_app.command("backfill")
def backfill_cmd(
    from_archive: Annotated[Optional[Path], typer.Option(help="archive directory (default <data-dir>/archive)")] = None,
    reindex: Annotated[bool, typer.Option(help="build a new index from the archive and swap the alias to it")] = False,
    data_dir: Annotated[Optional[Path], typer.Option(help="data directory (archive, follower checkpoints)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Same as `rasd index` without a subcommand."""
    _backfill(from_archive, reindex, data_dir, as_json)


def _backfill(from_archive: Optional[Path], reindex: bool, data_dir: Optional[Path], as_json: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from rasd.core.archive import ArchiveReadStats, read_archive, sizes
    from rasd.search.indexing import FollowerBusy, IndexFollower, IndexReport, index_articles
    from rasd.search.engine import EngineUnavailable
    from rasd.search.articles import generations, init_index, next_index, swap_alias

    follower = None
    try:
        settings, engine, alias = _open(data_dir)
        archive = from_archive or settings.data_dir / "archive"
        if not archive.is_dir():
            raise RasdError(f"{archive}: no such archive directory")
        init_index(engine, alias)
        follower = IndexFollower(settings.data_dir, lambda: engine, alias, archive_dir=from_archive)
        reading, report = ArchiveReadStats(), IndexReport()
        waiting, _ = follower.lag()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, disable=as_json) as progress:
            if reindex:
                snapshot = sizes(archive)  # lines after it are applied again below (idempotent)
                task = progress.add_task("archive", total=sum(1 for _ in read_archive(archive)))
                target = _prepare_generation(engine, alias, generations, next_index)
                report = index_articles(engine, read_archive(archive, reading), index=target,
                                        progress=lambda n: progress.advance(task, n))
                engine.refresh(target)
                old = swap_alias(engine, alias, target)
                for name in old:
                    engine.delete_index(name)
                follower.reset(snapshot)
                waiting, _ = follower.lag()
            task = progress.add_task("archive" if not reindex else "since", total=waiting)
            try:
                report.add(follower.run(wait=None, progress=lambda n: progress.advance(task, n)))
            except EngineUnavailable as exc:
                report.add(getattr(exc, "report", IndexReport()))
                left, _ = follower.lag()
                err.print(f"rasd: the engine went away: {left} archive lines are not indexed yet; "
                          "run `rasd index` again", highlight=False, soft_wrap=True)
                raise typer.Exit(1)
            engine.refresh(alias)
        if not reindex:
            for _ in read_archive(archive, reading):
                pass
        count = engine.count(alias)
        left, _ = follower.lag()
        rejected = follower.rejected()
    except (RasdError, FollowerBusy) as exc:
        _fail(exc)
    finally:
        if follower is not None:
            follower.close()
    summary = {"archive": str(archive), "archive_lines": reading.lines, "archive_invalid": reading.invalid,
               "archive_indexed": report.as_dict(), "index_documents": count, "waiting": left,
               "rejected": rejected}
    if reindex:
        summary["reindexed_into"] = target
        summary["deleted"] = old
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    else:
        table = Table(title=f"rasd index ({alias} on {engine.url})")
        for col in ("source", "indexed", "already indexed", "amended", "failed", "seconds"):
            table.add_column(col, justify="right" if col != "source" else "left")
        failed = ", ".join(f"{k} {v}" for k, v in report.failed.items() if v) or "0"
        table.add_row("archive", str(report.indexed), str(report.already_indexed), str(report.amended),
                      failed, f"{report.seconds:.1f}")
        console.print(table)
        console.print(f"{count} documents in {alias}; {left} archive lines waiting; "
                      f"{rejected} rejected (`rasd index status`); {reading.invalid} unreadable archive lines")
    if left:
        raise typer.Exit(1)


def _prepare_generation(engine, alias, generations, next_index) -> str:
    """Delete generations left by an interrupted reindex, create the next one (no alias)."""
    live = set(engine.alias_indices(alias))
    for name in generations(engine, alias):
        if name not in live:
            engine.delete_index(name)
    target = next_index(engine, alias)
    engine.create_index(target)
    return target


@index_app.command("rollover")
def rollover_cmd(
    max_age: Annotated[str, typer.Option(help="roll over when the write index is older (30d: monthly indices)")] = "30d",
    max_docs: Annotated[Optional[int], typer.Option(min=1, help="… or holds more documents")] = None,
    max_size: Annotated[Optional[str], typer.Option(help="… or is bigger (e.g. 50gb)")] = None,
    force: Annotated[bool, typer.Option(help="roll over now, whatever the conditions")] = False,
) -> None:
    """Start a new index generation behind the alias when a condition holds (the scheduler in
    fleet mode runs this daily; clusters with ILM/ISM use config/lifecycle/ instead)."""
    from rasd.search.articles import rollover

    try:
        _, engine, alias = _open()
        result = rollover(engine, alias, max_age=max_age, max_docs=max_docs, max_size=max_size, force=force)
    except RasdError as exc:
        _fail(exc)
    if result.rolled_over:
        console.print(f"{alias}: rolled over from {result.old} to {result.new}")
    else:
        met = ", ".join(f"{k} {'met' if v else 'not met'}" for k, v in result.conditions.items())
        console.print(f"{alias}: write index {result.old} kept ({met or 'no condition'})")


@index_app.command("init")
def init_cmd() -> None:
    """Install the index template (idempotent) and create the first index and its alias."""
    from rasd.search.articles import init_index

    try:
        _, engine, alias = _open()
        result = init_index(engine, alias)
    except RasdError as exc:
        _fail(exc)
    what = "created" if result.created else "already there"
    console.print(f"template {alias} v{result.template_version} installed on {engine.info.kind} "
                  f"{engine.info.version}; write index {result.write_index} ({what}) behind alias {alias}")


@index_app.command("status")
def status_cmd(
    data_dir: Annotated[Optional[Path], typer.Option(help="data directory (archive, follower checkpoints)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Documents per index, archive lines not yet indexed, and whether a --reindex is due."""
    from rasd.search.indexing import IndexFollower
    from rasd.search.articles import index_status
    from rasd.core.settings import load_settings

    local = None
    try:
        settings = load_settings(data_dir=data_dir)
        if not settings.data_dir.is_dir():  # a typo must not be created and reported up to date
            raise ConfigError(f"{settings.data_dir}: " + ("not a directory" if settings.data_dir.exists()
                                                          else "no such data directory"))
        follower = IndexFollower(settings.data_dir, lambda: None, settings.engine.index_prefix)
        try:
            lines, nbytes = follower.lag()
            local = {"waiting": lines, "waiting_bytes": nbytes, "rejected": follower.rejected(),
                     "archive": str(follower.archive_dir)}
        finally:
            follower.close()
        _, engine, alias = _open(data_dir)
        status = index_status(engine, alias) | local
    except RasdError as exc:
        if local is not None:
            err.print(f"archive: {local['waiting']} lines not indexed yet, {local['rejected']} rejected")
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(status, ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=f"{alias} on {engine.info.kind} {engine.info.version} ({engine.url})")
    for col in ("index", "documents", "write", "template", "folding"):
        table.add_column(col)
    for name, info in status["indices"].items():
        table.add_row(name, str(info["docs"]), "yes" if info["write"] else "",
                      f"v{info['template_version']}", str(info["folding"]))
    console.print(table)
    console.print(f"{status['documents']} documents; archive ({status['archive']}): "
                  f"{status['waiting']} lines not indexed yet, {status['rejected']} rejected")
    if status["needs_reindex"]:
        console.print(f"[yellow]{', '.join(status['needs_reindex'])}: built with an older template or "
                      f"folding table; run `rasd index --reindex`[/yellow]")


# --- rasd search ------------------------------------------------------------------------------


def rtl(text: str) -> str:
    """``text`` wrapped in a right-to-left isolate when its first strong character is RTL, so
    terminals with bidi support lay it out right to left without reordering the table."""
    return f"{RLI}{text}{PDI}" if _is_rtl(text) else text


def _is_rtl(text: str) -> bool:
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            return True
        if bidi == "L" and unicodedata.category(ch) != "Co":  # skip highlight markers
            return False
    return False


def to_markup(text: str, style: str = "bold yellow") -> str:
    """Highlight markers → rich markup, everything else escaped, lines joined.  Markers wrap
    whole words (the engine highlights tokens), so no style starts or ends between the joined
    letters of an Arabic word."""
    from rasd.search.articles import HL_POST, HL_PRE

    flat = " ".join(text.split())
    return escape(flat).replace(HL_PRE, f"[{style}]").replace(HL_POST, "[/]")


class RtlCell:
    """A table cell of rich markup that stays readable right to left: wrapped to the column
    width first, then every line right-aligned with its padding *outside* a right-to-left
    isolate (RLI … PDI, zero-width).  A bidi terminal then shows each line RTL inside its cell,
    and the table's borders, being outside the isolates, are never reordered with the text."""

    def __init__(self, markup: str):
        from rich.text import Text

        self.text = Text.from_markup(markup)

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement.get(console, options, self.text)

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        width = options.max_width
        for line in self.text.wrap(console, width, justify="left"):
            line.rstrip()
            pad = max(0, width - line.cell_len)
            isolate = _is_rtl(line.plain)
            yield Segment(" " * pad)
            if isolate:
                yield Segment(RLI)
            yield from line.render(console)
            if isolate:
                yield Segment(PDI)
            yield Segment.line()


def search_cmd(
    query: Annotated[str, typer.Argument(help='Lucene syntax as in Kibana: مسئول AND (العراق OR سوريا) NOT "قوات التحالف", وزي*')],
    outlet: Annotated[Optional[list[str]], typer.Option(help="only this outlet (repeatable)")] = None,
    lang: Annotated[Optional[list[str]], typer.Option(help="only this language code, e.g. ar (repeatable)")] = None,
    topic: Annotated[Optional[list[str]], typer.Option(help="only this topic slug, e.g. politics (repeatable)")] = None,
    since: Annotated[Optional[str], typer.Option(help="published on or after (2024-01-31, now-7d)")] = None,
    until: Annotated[Optional[str], typer.Option(help="published on or before")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many hits")] = 20,
    offset: Annotated[int, typer.Option(min=0, max=10_000, help="skip this many hits first (paging; limit + offset ≤ 10,000, the engine's result window)")] = 0,
    sort: Annotated[str, typer.Option(help="relevance or newest")] = "relevance",
    as_json: Annotated[bool, typer.Option("--json", help="print hits as JSON")] = False,
) -> None:
    """Search the indexed articles; prints date, outlet, title, a highlighted snippet, the URL
    and the id; a syndicated copy is marked "copy of <id>"."""
    from rasd.alerts.checks import catalog_for, value_problems
    from rasd.search.articles import search_articles

    try:
        settings, engine, alias = _open()
        if outlet or lang or topic:
            problems = value_problems(catalog_for(settings, engine), outlets=outlet or (),
                                      languages=lang or (), topics=topic or (), prefix="--")
            if problems:
                raise RasdError("; ".join(problems))
        total, hits = search_articles(engine, alias, query, outlets=outlet, languages=lang, topics=topic,
                                      since=since, until=until, limit=limit, offset=offset, sort=sort)
    except RasdError as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps({"total": total, "offset": offset, "hits": [h.as_json() for h in hits]},
                                    ensure_ascii=False, indent=1) + "\n")
        return
    shown = f"{offset + 1}–{offset + len(hits)} of " if hits and (offset or len(hits) < total) else ""
    table = Table(title=f"{shown}{total} hits for {rtl(escape(query))}", show_lines=True)
    table.add_column("date", no_wrap=True)
    table.add_column("outlet", no_wrap=True)
    table.add_column("title", ratio=2)
    table.add_column("snippet", ratio=3)
    table.add_column("url / id", ratio=2, overflow="fold")
    for h in hits:
        date = (h.published_at or "")[:16].replace("T", " ") or "—"
        where = escape(h.url) + f"\nid {h.id}" + (f"\n[yellow]copy of {h.duplicate_of}[/yellow]" if h.is_copy else "")
        table.add_row(date, escape(h.outlet), RtlCell(to_markup(h.title)), RtlCell(to_markup(h.snippet)), where)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``index`` (with its subcommands) and ``search`` to the ``rasd`` app."""
    app.add_typer(index_app, name="index")
    app.command("search")(search_cmd)
