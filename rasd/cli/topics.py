"""``rasd topics …``: the topic taxonomy as percolator queries, and re-tagging after an edit.

Added to the main app by :func:`register` (``rasd/cli.py`` calls ``cli_topics.register(app)``):

* ``rasd topics install [--taxonomy FILE]`` — store ``config/topics.yaml`` as percolator
  queries in ``<prefix>-topics`` (idempotent; :func:`rasd.search.topics.install_topics`);
* ``rasd topics retag [--data-dir D] [--taxonomy FILE] [--offline] [--json]`` — install, then
  re-tag the archive (``<data-dir>/archive``, as ``amendments/topics.jsonl``) and every indexed
  document (``topics`` updated in place) with the percolator; ``--offline``: the local matcher,
  archive only, no engine needed.

Errors (bad taxonomy, engine down, a rule the engine refuses) are one line on stderr, exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Optional

import typer

from rasd.core.errors import RasdError

from rasd.cli.common import console, fail as _fail  # noqa: E402
topics_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Topic rules as percolator queries; re-tag after editing config/topics.yaml.")
TaxonomyOption = Annotated[Optional[Path], typer.Option("--taxonomy", help="taxonomy file (default config/topics.yaml)")]




def _connect(settings):
    from rasd.search.engine import connect

    return connect(settings.engine, settings.secret), settings.engine.index_prefix


@topics_app.command("install")
def install_cmd(taxonomy: TaxonomyOption = None) -> None:
    """Store the taxonomy as percolator queries in <prefix>-topics (idempotent)."""
    from rasd.core.taxonomy import TOPICS_FILE, load_taxonomy
    from rasd.core.settings import load_settings
    from rasd.search.topics import install_topics

    try:
        tax = load_taxonomy(taxonomy or TOPICS_FILE)
        engine, prefix = _connect(load_settings())
        result = install_topics(engine, prefix, tax)
    except RasdError as exc:
        _fail(exc)
    console.print(f"{result.index}: {result.topics} topics, {result.queries} percolator queries "
                  f"({result.action}{f', {result.removed} removed' if result.removed else ''})")


@topics_app.command("retag")
def retag_cmd(
    data_dir: Annotated[Optional[Path], typer.Option(help="data directory (archive)")] = None,
    taxonomy: TaxonomyOption = None,
    offline: Annotated[bool, typer.Option(help="local matcher, archive only (no engine)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the counts as JSON")] = False,
) -> None:
    """Re-apply the taxonomy to the archive (amendments) and to the index."""
    from rasd.core.taxonomy import TOPICS_FILE, load_taxonomy
    from rasd.pipelines.enrich import tag_topics
    from rasd.core.settings import load_settings
    from rasd.search.topics import install_topics, percolate_topics, retag_archive, retag_index

    try:
        settings = load_settings(data_dir=data_dir)
        tax = load_taxonomy(taxonomy or TOPICS_FILE)
        archive = settings.data_dir / "archive"
        out: dict = {"matcher": "local" if offline else "percolator"}
        if offline:
            def tagger(docs):
                return [tag_topics(SimpleNamespace(title=d.get("title"), text=d.get("text") or ""), tax)
                        for d in docs]
        else:
            engine, prefix = _connect(settings)
            out["install"] = install_topics(engine, prefix, tax).action

            def tagger(docs):
                return percolate_topics(engine, docs, prefix=prefix)
        records, changed = retag_archive(archive, tagger) if archive.is_dir() else (0, 0)
        out["archive"] = {"records": records, "changed": changed}
        if not offline:
            docs, updated = retag_index(engine, prefix, tagger) if engine.alias_indices(prefix) else (0, 0)
            out["index"] = {"documents": docs, "changed": updated}
    except RasdError as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(out) + "\n")
        return
    console.print(f"matcher: {out['matcher']}; archive {archive}: {records} records, {changed} re-tagged "
                  f"(amendments/topics.jsonl)")
    if "index" in out:
        console.print(f"index {prefix}: {out['index']['documents']} documents, "
                      f"{out['index']['changed']} re-tagged")


def register(app: typer.Typer) -> None:
    """Add ``topics`` (install, retag) to the ``rasd`` app."""
    app.add_typer(topics_app, name="topics")
