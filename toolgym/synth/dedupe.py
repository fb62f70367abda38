"""Deterministic near-duplicate detection: normalized token sets, MinHash + LSH for candidates, exact Jaccard.

The first item (in the given order) of each group of near-duplicates is kept; the result is the same on every
run and machine (hashes are blake2b, never Python's salted ``hash``).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "with",
        "your",
        "you",
    }
)
_PRIME = (1 << 61) - 1


def tokens(text: str) -> frozenset[str]:
    """Lower-case word tokens of ``text`` (snake_case and camelCase split), stopwords dropped."""
    words = _WORD.findall(_CAMEL.sub(" ", text).replace("_", " ").lower())
    return frozenset(w for w in words if w not in STOPWORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")


class MinHasher:
    """MinHash signatures with ``num_perm`` fixed universal hash functions (the same on every run)."""

    def __init__(self, num_perm: int = 64) -> None:
        self.num_perm = num_perm
        self._coefficients = [
            (_token_hash(f"a{i}") % (_PRIME - 1) + 1, _token_hash(f"b{i}") % _PRIME) for i in range(num_perm)
        ]

    def signature(self, items: frozenset[str]) -> tuple[int, ...]:
        if not items:
            return (_PRIME,) * self.num_perm
        hashes = [_token_hash(t) for t in sorted(items)]
        return tuple(min((a * h + b) % _PRIME for h in hashes) for a, b in self._coefficients)


def near_duplicates(
    items: Sequence[tuple[str, str]], threshold: float, *, num_perm: int = 64, bands: int = 32
) -> dict[str, str]:
    """``{duplicate_id: kept_id}`` for items ``(id, text)`` whose token Jaccard with an earlier kept item is at
    least ``threshold``. Candidates come from MinHash LSH (``bands`` bands), each confirmed by exact Jaccard."""
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    if num_perm % bands:
        raise ValueError("num_perm must be a multiple of bands")
    hasher, rows = MinHasher(num_perm), num_perm // bands
    buckets: dict[tuple[int, tuple[int, ...]], list[int]] = defaultdict(list)
    sets = [tokens(text) for _, text in items]
    kept: list[bool] = []
    duplicates: dict[str, str] = {}
    for index, (item_id, _) in enumerate(items):
        signature = hasher.signature(sets[index])
        keys = [(band, signature[band * rows : (band + 1) * rows]) for band in range(bands)]
        candidates = sorted({j for key in keys for j in buckets.get(key, ()) if kept[j]})
        match = next((j for j in candidates if jaccard(sets[index], sets[j]) >= threshold), None)
        kept.append(match is None)
        if match is not None:
            duplicates[item_id] = items[match][0]
            continue
        for key in keys:
            buckets[key].append(index)
    return duplicates
