"""``toolgym index build|search|info``: local search indexes from the command line."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from toolgym.cli.common import console, fail

app = typer.Typer(help="Build and query local search indexes (BM25).", no_args_is_help=True)


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _language(value: str) -> str | None:
    return None if value.lower() in ("", "none", "off") else value.lower()


@app.command()
def build(
    corpus: Annotated[Path, typer.Argument(help="a JSONL file (id, title, text) or a folder of .txt/.md/.html files")],
    out: Annotated[Path, typer.Option("--out", "-o", help="index folder to write")],
    passage_words: Annotated[int, typer.Option(min=1, help="words per passage")] = 100,
    overlap_words: Annotated[int, typer.Option(min=0, help="words shared by consecutive passages")] = 20,
    stemmer: Annotated[str, typer.Option(help="stemming language, or 'none'")] = "english",
    stopwords: Annotated[str, typer.Option(help="stop-word language, or 'none'")] = "english",
    include: Annotated[list[str] | None, typer.Option(help="glob of files to read from a folder (repeatable)")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="glob of files to skip (repeatable)")] = None,
    threads: Annotated[
        int, typer.Option(min=1, help="indexing threads (1 keeps rankings identical across builds)")
    ] = 1,
    workers: Annotated[int, typer.Option(min=1, help="processes converting files of a folder")] = min(
        4, os.cpu_count() or 1
    ),
    overwrite: Annotated[bool, typer.Option(help="replace an existing index at OUT")] = False,
) -> None:
    """Chunk a corpus into passages and build a BM25 index folder."""
    from toolgym.search.corpus import DEFAULT_INCLUDE, CorpusError, read_corpus
    from toolgym.search.index import IndexConfig, build_index

    try:
        config = IndexConfig(
            passage_words=passage_words,
            overlap_words=overlap_words,
            stemmer=_language(stemmer),
            stopwords=_language(stopwords),
            threads=threads,
        )
    except ValidationError as exc:
        problems = (f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg'].removeprefix('Value error, ')}"
                    for e in exc.errors())  # fmt: skip
        raise fail("; ".join(problems)) from None
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console)
    task = progress.add_task("reading", total=None)

    def report(documents: int, passages: int) -> None:
        progress.update(task, description=f"{documents:,} documents · {passages:,} passages")

    start = time.perf_counter()
    try:
        with progress:
            documents = read_corpus(corpus, tuple(include or DEFAULT_INCLUDE), tuple(exclude or ()), workers)
            index = build_index(documents, out, config, overwrite=overwrite, source=str(corpus), on_progress=report)
    except (CorpusError, FileExistsError, ValueError, ImportError) as exc:
        raise fail(str(exc)) from None
    seconds = time.perf_counter() - start
    manifest = index.manifest
    rate = manifest.passages / seconds if seconds > 0 else 0.0
    console.print(
        f"indexed [bold]{manifest.documents:,}[/bold] documents as [bold]{manifest.passages:,}[/bold] passages "
        f"in {seconds:.1f} s ({rate:,.0f} passages/s) → [bold]{out}[/bold] ({_folder_size(out) / 1e6:.1f} MB)"
    )
    if manifest.empty_documents:
        console.print(f"[yellow]{manifest.empty_documents} documents had no text and were left out[/yellow]")


@app.command()
def search(
    index: Annotated[Path, typer.Argument(help="an index folder")],
    query: Annotated[str, typer.Argument(help="what to search for")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="number of results")] = 5,
) -> None:
    """Query an index and show the best passages."""
    from toolgym.search.index import SearchIndex, SearchIndexError
    from toolgym.tools.search import snippet

    try:
        loaded = SearchIndex(index)
    except (SearchIndexError, ImportError) as exc:
        raise fail(str(exc)) from None
    start = time.perf_counter()
    hits = loaded.search(query, k)
    ms = (time.perf_counter() - start) * 1000
    table = Table("#", "id", "score", "title / snippet", title=f"{len(hits)} results in {ms:.1f} ms")
    for rank, hit in enumerate(hits, 1):
        table.add_row(str(rank), hit.id, f"{hit.score:.2f}", f"[bold]{hit.title}[/bold]\n{snippet(hit.text, 240)}")
    console.print(table)


@app.command()
def info(index: Annotated[Path, typer.Argument(help="an index folder")]) -> None:
    """Show what an index holds and how it was built."""
    from toolgym.search.index import SearchIndexError, read_manifest

    try:
        manifest = read_manifest(index)
    except SearchIndexError as exc:
        raise fail(str(exc)) from None
    table = Table(show_header=False, title=str(index))
    table.add_row("documents", f"{manifest.documents:,}")
    table.add_row("passages", f"{manifest.passages:,}")
    table.add_row("source", manifest.source or "-")
    table.add_row("format version", str(manifest.version))
    for key, value in manifest.config.model_dump().items():
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("size", f"{_folder_size(index) / 1e6:.1f} MB")
    console.print(table)


@app.command()
def serve(
    index: Annotated[Path, typer.Argument(help="an index folder")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free port)")] = 8000,
    topk: Annotated[int, typer.Option(min=1, help="results per query when a request gives no topk")] = 3,
) -> None:
    """Serve an index with the Search-R1 retrieval API (POST /retrieve) until interrupted."""
    from toolgym.search.index import SearchIndex, SearchIndexError
    from toolgym.search.server import RetrievalServer

    try:
        server = RetrievalServer(SearchIndex(index), host, port, default_topk=topk)
    except (SearchIndexError, ImportError, OSError) as exc:
        raise fail(str(exc)) from None
    console.print(f"serving {index} at [bold]{server.url}[/bold] (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
