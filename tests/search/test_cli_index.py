"""`toolgym index build|search|info` through a typer app that mounts the index commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.search.corpus import write_corpus
from toolgym.cli.index import app as index_app
from toolgym.search.index import SearchIndex

app = typer.Typer()
app.add_typer(index_app, name="index")


def invoke(*args: str):
    return CliRunner().invoke(app, ["index", *args], env={"COLUMNS": "200"})


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus.jsonl")


def test_build_search_and_info(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    result = invoke("build", str(corpus), "--out", str(out), "--passage-words", "30", "--overlap-words", "5")
    assert result.exit_code == 0, result.output
    assert "indexed 6 documents as 13 passages" in result.output
    assert "1 documents had no text and were left out" in result.output
    assert SearchIndex(out).manifest.config.passage_words == 30
    found = invoke("search", str(out), "capital Lutz", "-k", "2")
    assert found.exit_code == 0 and "zubrowka#0" in found.output and "2 results in" in found.output
    info = invoke("info", str(out))
    assert info.exit_code == 0 and "13" in info.output and "passage words" in info.output


def test_folder_build_with_globs_and_no_stemming(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\nrunning fast", encoding="utf-8")
    (docs / "skip.md").write_text("# Skip\nrunning", encoding="utf-8")
    out = tmp_path / "idx"
    result = invoke("build", str(docs), "--out", str(out), "--exclude", "skip*", "--stemmer", "none")
    assert result.exit_code == 0, result.output
    index = SearchIndex(out)
    assert index.documents == 1 and index.config.stemmer is None
    assert index.search("running", 1) and not index.search("run", 1)  # no stemming


def test_errors_are_clear_and_leave_nothing(corpus: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "text": "ok"}) + "\n" + json.dumps({"id": "b"}) + "\n")
    result = invoke("build", str(bad), "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and f"{bad}:2: field 'text': missing" in " ".join(result.output.split())
    assert not (tmp_path / "x").exists()
    out = tmp_path / "idx"
    assert invoke("build", str(corpus), "--out", str(out)).exit_code == 0
    again = invoke("build", str(corpus), "--out", str(out))
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert invoke("build", str(corpus), "--out", str(out), "--overwrite").exit_code == 0
    overlap = invoke("build", str(corpus), "--out", str(tmp_path / "y"), "--passage-words", "5", "--overlap-words", "5")
    assert overlap.exit_code == 2 and "overlap_words (5) must be < passage_words (5)" in overlap.output
    missing = invoke("search", str(tmp_path / "none"), "q")
    assert missing.exit_code == 2 and "no such folder" in missing.output
    assert invoke("info", str(tmp_path)).exit_code == 2
