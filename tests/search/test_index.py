"""The local index: build, load, BM25 ranking (checked against the textbook formula), lookups, failures."""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

import pytest

from tests.search.corpus import CONFIG, DOCUMENTS, HISTORY, build_test_index
from toolgym.search.bm25 import make_analyzer
from toolgym.search.corpus import CorpusError
from toolgym.search.index import (
    IndexConfig,
    SearchIndex,
    SearchIndexError,
    build_index,
    is_index,
    open_index,
    read_manifest,
)
from toolgym.search.records import Document


def reference_bm25(index: SearchIndex, query: str, k1: float = 1.2, b: float = 0.75) -> dict[str, float]:
    """Textbook BM25 (Lucene idf) of every passage, computed independently of the index."""
    analyzer = make_analyzer(index.config.stemmer, index.config.stopwords)
    passages = [index.passage(i) for i in range(index.passages)]
    tokens = [analyzer.analyze(f"{p.title}\n{p.text}") for p in passages]
    avgdl = sum(map(len, tokens)) / len(tokens)
    scores = {}
    for passage, toks in zip(passages, tokens, strict=True):
        score = 0.0
        for term in set(analyzer.analyze(query)):
            tf = toks.count(term)
            if tf:
                n = sum(term in other for other in tokens)
                idf = math.log(1 + (len(tokens) - n + 0.5) / (n + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(toks) / avgdl))
        if score:
            scores[passage.id] = score
    return scores


def test_build_counts_documents_passages_and_writes_a_manifest(small_index: SearchIndex) -> None:
    manifest = read_manifest(small_index.path)
    assert manifest.format == "toolgym-search-index" and manifest.version == 1
    assert manifest.config == CONFIG
    assert manifest.documents == len(DOCUMENTS) - 1  # the empty one is left out
    assert manifest.empty_documents == 1
    assert manifest.passages == small_index.passages == 13
    assert manifest.tantivy_version not in ("", "unknown")
    assert is_index(small_index.path) and not is_index(small_index.path / "bm25")


@pytest.mark.parametrize("query", ["capital of Zubrowka", "cheese", "Lutz bridges Kessel", "river freezes winter"])
def test_scores_are_bm25_and_ranked_best_first(small_index: SearchIndex, query: str) -> None:
    expected = reference_bm25(small_index, query)
    hits = small_index.search(query, k=50)
    assert {h.id: pytest.approx(h.score, rel=1e-4) for h in hits} == expected
    ordered = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [h.id for h in hits][:3] == [pid for pid, _ in ordered][:3]
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_ranking_follows_rarity_frequency_and_titles(small_index: SearchIndex) -> None:
    assert small_index.search("klubeck", 3)[0].id == "zubrowka#0"  # a word only one passage has
    assert small_index.search("cheese", 1)[0].id == "cheese#0"
    assert small_index.search("erupting volcanoes", 1)[0].id == "ember#0"  # stemming: erupted, volcano
    assert small_index.search("Mount", 1)[0].id == "ember#0"  # the title counts
    assert small_index.search("cafe grosse creme brulee", 1)[0].id == "accents#0"  # accents folded
    top = small_index.search("capital Lutz", 3)
    assert top[0].id == "zubrowka#0"  # both words beat one of them


def test_hits_carry_passage_text_title_document_and_position(small_index: SearchIndex) -> None:
    hit = small_index.search("year 1805 council", 1)[0]
    passage = small_index.passage(hit.id)
    assert hit.doc_id == "history" and hit.title == "History of Lutz" and hit.position == passage.position
    assert hit.text == passage.text and "1805" in hit.text and hit.text in HISTORY
    assert hit.id == f"history#{hit.position}"
    assert len(hit.text.split()) <= CONFIG.passage_words


def test_k_limits_results_and_unsearchable_queries_return_nothing(small_index: SearchIndex) -> None:
    assert len(small_index.search("Lutz", 2)) == 2
    assert len(small_index.search("Lutz", 100)) == len(reference_bm25(small_index, "Lutz"))
    assert small_index.search("the of and a", 5) == []  # stop words only
    assert small_index.search("", 5) == [] and small_index.search("?!*:(", 5) == []
    assert small_index.search("zzyzx", 5) == []
    assert small_index.search("Lutz", 0) == []


def test_huge_queries_are_capped_in_terms(small_index: SearchIndex) -> None:
    query = " ".join(f"word{i}" for i in range(5000)) + " klubeck"
    assert len(small_index.query_terms(query)) == small_index.config.max_query_terms
    assert small_index.search("klubeck " + query, 3)[0].id == "zubrowka#0"
    assert small_index.search('title:"x" AND (cheese OR NOT', 1)[0].id == "cheese#0"  # no query syntax


def test_passages_tile_their_document_with_overlap(small_index: SearchIndex) -> None:
    doc = small_index.document("history")
    assert doc.text == HISTORY and doc.title == "History of Lutz"
    passages = [small_index.passage(f"history#{i}") for i in range(8)]
    assert [p.position for p in passages] == list(range(8))
    words = HISTORY.split()
    step = CONFIG.passage_words - CONFIG.overlap_words
    for i, p in enumerate(passages):
        assert p.text.split() == words[i * step : i * step + CONFIG.passage_words]
    with pytest.raises(KeyError):
        small_index.passage("history#8")


def test_lookup_by_passage_or_document_id(small_index: SearchIndex) -> None:
    opened = small_index.lookup("kessel#0")
    assert (opened.id, opened.doc_id, opened.title) == ("kessel#0", "kessel", "Kessel (river)")
    whole = small_index.lookup("kessel")
    assert whole.doc_id is None and whole.text == DOCUMENTS[1]["text"]
    accents = small_index.lookup("accents")
    assert accents.text == DOCUMENTS[5]["text"] and accents.title == "Café Größe"  # UTF-8 offsets
    for bad in ("nope", "kessel#9", "kessel#x", "#0", "", "empty"):
        with pytest.raises(KeyError):
            small_index.lookup(bad)


def test_document_ids_may_contain_hashes(tmp_path: Path) -> None:
    docs = [Document("a#b", "T", "alpha beta gamma"), Document("a", "U", "delta")]
    index = build_index(docs, tmp_path / "i", IndexConfig(passage_words=2, overlap_words=0))
    assert index.lookup("a#b#1").text == "gamma"
    assert index.lookup("a#b").text == "alpha beta gamma"
    assert index.search("gamma", 1)[0].id == "a#b#1"


def test_loading_is_fast_shared_and_identical_across_builds(small_index: SearchIndex, tmp_path: Path) -> None:
    again = SearchIndex(small_index.path)
    assert [(h.id, h.score) for h in again.search("Lutz river", 10)] == [
        (h.id, h.score) for h in small_index.search("Lutz river", 10)
    ]
    rebuilt = build_test_index(tmp_path)
    assert [(h.id, h.score) for h in rebuilt.search("Lutz river winter", 10)] == [
        (h.id, h.score) for h in small_index.search("Lutz river winter", 10)
    ]
    assert open_index(small_index.path) is open_index(str(small_index.path))


def test_an_existing_index_is_replaced_only_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "idx"
    build_index([Document("a", "", "first version")], out)
    with pytest.raises(FileExistsError, match="overwrite"):
        build_index([Document("a", "", "second version")], out)
    first = open_index(out)
    assert first.search("first", 1)
    os.utime(out / "manifest.json", ns=(1, 1))  # a rebuild gets a new stamp even within one clock tick
    build_index([Document("a", "", "second version")], out, overwrite=True)
    assert open_index(out).search("second", 1) and not open_index(out).search("first", 1)
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a toolgym search index"):
        build_index([Document("a", "", "x")], other, overwrite=True)
    assert (other / "precious.txt").read_text() == "keep me"


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    def documents():
        yield Document("a", "", "some words")
        raise RuntimeError("corpus reader crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        build_index(documents(), tmp_path / "idx")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: field 'id': duplicate document id 'a'"):
        build_index([Document("a", "", "x", "c.jsonl:1"), Document("a", "", "y", "c.jsonl:2")], tmp_path / "idx")
    with pytest.raises(CorpusError, match="no text to index"):
        build_index([Document("a", "", "  ")], tmp_path / "idx")
    assert list(tmp_path.iterdir()) == []


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="overlap_words"):
        IndexConfig(passage_words=10, overlap_words=10)
    with pytest.raises(ValueError, match="unsupported analyzer language"):
        build_index([Document("a", "", "x")], Path("/nonexistent/never"), IndexConfig(stemmer="klingon"))


def test_loading_a_missing_damaged_or_newer_index_fails_clearly(small_index: SearchIndex, tmp_path: Path) -> None:
    with pytest.raises(SearchIndexError, match="no such folder"):
        SearchIndex(tmp_path / "missing")
    with pytest.raises(SearchIndexError, match="not a toolgym search index"):
        SearchIndex(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in small_index.path.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(SearchIndexError, match="version 99 is newer"):
        SearchIndex(copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "passages": "many"}))
    with pytest.raises(SearchIndexError, match="field 'passages'"):
        SearchIndex(copy)
    (copy / "manifest.json").write_text("{oops")
    with pytest.raises(SearchIndexError, match="unreadable manifest"):
        SearchIndex(copy)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SearchIndexError, match="damaged index"):
        SearchIndex(copy)  # the bm25 folder was not copied
