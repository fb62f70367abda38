"""Plots of a run: reward against turns and against tokens."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from toolgym.types import Episode


def plot_run(episodes: Sequence[Episode], path: str | Path, title: str = "") -> Path:
    """Write a PNG with reward against turns (with the mean per turn count) and against tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [e for e in episodes if e.reward is not None]
    failed = len(episodes) - len(scored)
    jitter = random.Random(0)
    fig, (by_turns, by_tokens) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    turns = [e.usage.turns for e in scored]
    rewards = [float(e.reward) for e in scored]  # type: ignore[arg-type]
    by_turns.scatter([t + jitter.uniform(-0.15, 0.15) for t in turns], rewards, alpha=0.5, s=18)
    per_turn: dict[int, list[float]] = defaultdict(list)
    for t, r in zip(turns, rewards, strict=True):
        per_turn[t].append(r)
    xs = sorted(per_turn)
    by_turns.plot(xs, [sum(per_turn[x]) / len(per_turn[x]) for x in xs], "o-", color="C1", label="mean")
    by_turns.set_xlabel("turns")
    by_turns.set_ylabel("reward")
    by_turns.legend(loc="best")
    by_tokens.scatter([e.usage.total_tokens for e in scored], rewards, alpha=0.5, s=18, color="C2")
    by_tokens.set_xlabel("tokens (prompt + completion)")
    for ax in (by_turns, by_tokens):
        ax.grid(alpha=0.3)
    note = f" · {failed} failed episodes not shown" if failed else ""
    fig.suptitle(f"{title} · {len(scored)} episodes{note}".strip(" ·"))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
