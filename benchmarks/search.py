"""Local search index: build speed, load time, query latency, memory and size on a 100,000-passage corpus.

    python benchmarks/search.py               # full run: 100,000 passages (~1 min)
    python benchmarks/search.py --quick       # smoke run: 10,000 passages (a few seconds)
    python benchmarks/search.py --compare     # also measure the raw BM25 libraries, bm25s vs tantivy

The corpus is synthetic and deterministic (``--seed``): a vocabulary of 50,000 pronounceable pseudo-words
drawn with Zipfian frequencies (exponent 1.07, like English), documents of 60-600 words with 2-4 word
titles, generated until chunking (100-word passages, 20 shared) gives exactly ``--passages`` passages.
Queries are 2-6 words picked from random passages. The build is timed from documents in memory to a
loaded index (chunking, text store, BM25 index, manifest); corpus generation is not timed.
``--compare`` runs each library in its own process on the same passage texts (title + text), with the
same analysis (lower case, English stop words, English stemming), and reports its peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "toolgym").is_dir():  # measure this checkout, whichever toolgym happens to be installed
    sys.path.insert(0, str(ROOT))

from toolgym.search.index import IndexConfig, SearchIndex, build_index  # noqa: E402
from toolgym.search.records import Document  # noqa: E402
from toolgym.tools.search import SearchToolset  # noqa: E402

TARGET_BUILD = 10_000  # passages per second
TARGET_P50_MS = 5.0
CONFIG = IndexConfig(passage_words=100, overlap_words=20)


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = int(rng.integers(1, 5))
        picks = rng.integers(0, 18, syllables), rng.integers(0, 5, syllables)
        words.setdefault("".join(consonants[c] + vowels[v] for c, v in zip(*picks, strict=True)))
    return list(words)


def passages_of(words: int) -> int:
    step = CONFIG.passage_words - CONFIG.overlap_words
    return 1 if words <= CONFIG.passage_words else 1 + math.ceil((words - CONFIG.passage_words) / step)


def corpus(passages: int, seed: int) -> list[Document]:
    """Documents that chunk into exactly ``passages`` passages."""
    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(50_000, rng), dtype=object)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.07
    weights /= weights.sum()
    lengths: list[int] = []
    total = 0
    while total < passages:
        words = int(rng.integers(60, 601))
        need = passages - total
        if passages_of(words) > need:
            words = CONFIG.passage_words + (CONFIG.passage_words - CONFIG.overlap_words) * (need - 1)
        lengths.append(words)
        total += passages_of(words)
    draws = rng.choice(len(vocab), size=sum(lengths) + 4 * len(lengths), p=weights)
    docs, at = [], 0
    for i, words in enumerate(lengths):
        title_words = 2 + i % 3
        title = " ".join(vocab[draws[at : at + title_words]]).title()
        text = " ".join(vocab[draws[at + 4 : at + 4 + words]])
        docs.append(Document(f"doc{i}", title, text))
        at += words + 4
    return docs


def queries(index: SearchIndex, n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed + 1)
    out = []
    for number in rng.integers(0, index.passages, n):
        words = index.passage(int(number)).text.split()
        out.append(" ".join(rng.choice(words, size=int(rng.integers(2, 7)), replace=False)))
    return out


class PeakRSS:
    """Peak resident memory while the block runs, sampled every 5 ms (MiB)."""

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = _rss()
        self._stop = False
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def added_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.95)] * 1000


def time_queries(search, qs: list[str]) -> tuple[float, float]:
    for q in qs[:20]:
        search(q)  # warm up
    samples = []
    for q in qs:
        start = time.perf_counter()
        search(q)
        samples.append(time.perf_counter() - start)
    return percentiles_ms(samples)


def measure_toolgym(docs: list[Document], n_queries: int, seed: int, work: Path) -> dict[str, float]:
    passages = sum(passages_of(len(d.text.split())) for d in docs)
    gc.collect()
    with PeakRSS() as memory:
        start = time.perf_counter()
        index = build_index(docs, work / "index", CONFIG)
        build_seconds = time.perf_counter() - start
    assert index.passages == passages, (index.passages, passages)
    start = time.perf_counter()
    loaded = SearchIndex(work / "index")
    load_ms = (time.perf_counter() - start) * 1000
    qs = queries(loaded, n_queries, seed)
    p50, p95 = time_queries(lambda q: loaded.search(q, 10), qs)
    tools = SearchToolset(loaded, k=10)

    async def tool_latency() -> tuple[float, float]:
        samples = []
        for q in qs:
            start = time.perf_counter()
            await tools.call("search", {"query": q})
            samples.append(time.perf_counter() - start)
        return percentiles_ms(samples)

    tool_p50, tool_p95 = asyncio.run(tool_latency())
    return {
        "passages": passages,
        "documents": len(docs),
        "build_seconds": build_seconds,
        "build_rate": passages / build_seconds,
        "build_peak_mib": memory.added_mib,
        "load_ms": load_ms,
        "p50_ms": p50,
        "p95_ms": p95,
        "tool_p50_ms": tool_p50,
        "tool_p95_ms": tool_p95,
        "size_mb": folder_mb(work / "index"),
    }


# ---- --compare: the raw libraries, each in its own process ----


def engine_main(engine: str, texts_file: Path, n_queries: int, seed: int, work: Path) -> None:
    texts = json.loads(texts_file.read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed + 1)
    qs = []
    for number in rng.integers(0, len(texts), n_queries):
        words = texts[int(number)].split()
        qs.append(" ".join(rng.choice(words, size=int(rng.integers(2, 7)), replace=False)))
    out = work / engine
    gc.collect()
    with PeakRSS() as memory:
        start = time.perf_counter()
        search = (build_bm25s if engine == "bm25s" else build_tantivy)(texts, out)
        build_seconds = time.perf_counter() - start
    p50, p95 = time_queries(search, qs)
    figures = {"build_rate": len(texts) / build_seconds, "build_seconds": build_seconds, "p50_ms": p50}
    figures |= {"p95_ms": p95, "build_peak_mib": memory.added_mib, "size_mb": folder_mb(out)}
    print(json.dumps(figures))


def build_bm25s(texts: list[str], out: Path):
    import bm25s

    try:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
    except ImportError:
        stemmer = None
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    retriever.save(out, show_progress=False)
    loaded = bm25s.BM25.load(out, mmap=True, show_progress=False)

    def search(query: str) -> list[int]:
        ids = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        if not ids.vocab:
            return []
        results, _ = loaded.retrieve(ids, k=10, show_progress=False, n_threads=1)
        return list(results[0])

    return search


def build_tantivy(texts: list[str], out: Path):
    import tantivy

    from toolgym.search.bm25 import ANALYZER, make_analyzer

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pid", stored=True, indexed=False)
    builder.add_text_field("text", stored=False, tokenizer_name=ANALYZER, index_option="freq")
    schema = builder.build()
    out.mkdir(parents=True)
    index = tantivy.Index(schema, path=str(out))
    analyzer = make_analyzer("english", "english")
    index.register_tokenizer(ANALYZER, analyzer)
    writer = index.writer(heap_size=128_000_000, num_threads=1)
    for i, text in enumerate(texts):
        writer.add_document(tantivy.Document(pid=i, text=text))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()

    def search(query: str) -> list[int]:
        terms = list(dict.fromkeys(analyzer.analyze(query)))
        if not terms:
            return []
        should = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "text", t)) for t in terms]
        hits = searcher.search(tantivy.Query.boolean_query(should), 10, count=False).hits
        return [searcher.doc(address)["pid"][0] for _, address in hits]

    return search


def compare(docs: list[Document], n_queries: int, seed: int, work: Path) -> dict[str, dict[str, float] | str]:
    from toolgym.search.chunking import chunk_spans

    texts = []
    for doc in docs:
        texts += [f"{doc.title}\n{doc.text[s:e]}" for s, e in chunk_spans(doc.text, 100, 20)]
    texts_file = work / "passages.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    results: dict[str, dict[str, float] | str] = {}
    for engine in ("bm25s", "tantivy"):
        args = [sys.executable, __file__, "--engine", engine, "--texts", str(texts_file), "--work", str(work)]
        args += ["--queries", str(n_queries), "--seed", str(seed)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            results[engine] = f"not measured: {last} (pip install bm25s PyStemmer tantivy)"
        else:
            results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 passages, 200 queries")
    parser.add_argument("--passages", type=int, default=None, help="corpus size in passages (default 100,000)")
    parser.add_argument("--queries", type=int, default=None, help="queries to time (default 1,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", action="store_true", help="also measure bm25s and tantivy directly")
    parser.add_argument("--engine", choices=["bm25s", "tantivy"], help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    passages = args.passages or (10_000 if args.quick else 100_000)
    n_queries = args.queries or (200 if args.quick else 1_000)
    if args.engine:
        engine_main(args.engine, args.texts, n_queries, args.seed, args.work)
        return

    work = Path(tempfile.mkdtemp(prefix="toolgym-search-bench-"))
    try:
        start = time.perf_counter()
        docs = corpus(passages, args.seed)
        words = sum(len(d.text.split()) for d in docs)
        print(f"corpus: {len(docs):,} synthetic documents, {words:,} words, {passages:,} passages "
              f"(Zipfian vocabulary, seed {args.seed}; generated in {time.perf_counter() - start:.1f} s)")  # fmt: skip
        r = measure_toolgym(docs, n_queries, args.seed, work)
        print(f"toolgym index build:  {r['build_seconds']:.2f} s = {r['build_rate']:,.0f} passages/s "
              f"(peak +{r['build_peak_mib']:.0f} MiB, {r['size_mb']:.1f} MB on disk)")  # fmt: skip
        print(f"toolgym index load:   {r['load_ms']:.1f} ms")
        print(f"query (k=10):         p50 {r['p50_ms']:.2f} ms, p95 {r['p95_ms']:.2f} ms over {n_queries:,} queries")
        print(f"search tool call:     p50 {r['tool_p50_ms']:.2f} ms, p95 {r['tool_p95_ms']:.2f} ms (with formatting)")
        build_ok = r["build_rate"] >= TARGET_BUILD
        query_ok = r["p50_ms"] <= TARGET_P50_MS
        print(f"{'PASS' if build_ok else 'MISS'} build >= {TARGET_BUILD:,} passages/s: {r['build_rate']:,.0f} "
              f"({r['build_rate'] / TARGET_BUILD:.2f}x target)")  # fmt: skip
        print(f"{'PASS' if query_ok else 'MISS'} query p50 <= {TARGET_P50_MS:g} ms: {r['p50_ms']:.2f} ms "
              f"({TARGET_P50_MS / max(r['p50_ms'], 1e-9):.1f}x under target)")  # fmt: skip
        if args.compare:
            print("\nraw libraries on the same passages (each in its own process):")
            results = compare(docs, n_queries, args.seed, work)
            for engine, figures in results.items():
                if isinstance(figures, str):
                    print(f"  {engine:8s} {figures}")
                    continue
                print(f"  {engine:8s} build {figures['build_rate']:>9,.0f} passages/s · query p50 "
                      f"{figures['p50_ms']:.2f} ms p95 {figures['p95_ms']:.2f} ms · build peak "
                      f"+{figures['build_peak_mib']:.0f} MiB · {figures['size_mb']:.1f} MB on disk")  # fmt: skip
            if all(isinstance(f, dict) for f in results.values()):
                a, b = results["bm25s"], results["tantivy"]
                assert isinstance(a, dict) and isinstance(b, dict)
                memory = a["build_peak_mib"] / max(b["build_peak_mib"], 1)
                print(f"  tantivy vs bm25s: build {b['build_rate'] / a['build_rate']:.1f}x faster, query p50 "
                      f"{a['p50_ms'] / b['p50_ms']:.1f}x faster, build memory {memory:.1f}x less, "
                      f"index {a['size_mb'] / b['size_mb']:.1f}x smaller")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
