"""``toolgym envs``, ``toolgym eval`` and ``toolgym report``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from toolgym.agents.episode_log import read_episodes
from toolgym.agents.first_turn import FirstTurnToolChoice
from toolgym.agents.policy import Policy, PolicyError, Sampling
from toolgym.agents.runner import Runner
from toolgym.agents.summary import RunSummary, summarize
from toolgym.cli.common import console, fail, parse_env_args, parse_extra_options, print_summary
from toolgym.envs import ENVS, get_env_entry, make_env


def make_policy(model: str | None, base_url: str | None, api_key_env: str, timeout: float) -> Policy:
    """An OpenAI-compatible policy when a base URL is given, else the local model."""
    if base_url:
        from toolgym.agents.openai_policy import OpenAIPolicy

        if not model:
            raise fail("--base-url needs --model (the model name the endpoint serves)")
        return OpenAIPolicy(model=model, base_url=base_url, api_key_env=api_key_env, timeout=timeout)
    from toolgym.agents.local_policy import LocalPolicy

    return LocalPolicy(model=model, timeout=timeout)


def envs() -> None:
    """List the registered environments."""
    table = Table("name", "gymnasium id", "description")
    for entry in sorted(ENVS.values(), key=lambda e: e.name):
        table.add_row(entry.name, entry.gym_id, entry.description)
    console.print(table)


def eval_(
    ctx: typer.Context,
    env: Annotated[str, typer.Argument(help="environment name (see `toolgym envs`)")] = "calculator",
    model: Annotated[str | None, typer.Option(help="model name at --base-url, or a local HF model path")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint; local model if omitted")] = None,
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the API key")] = "OPENAI_API_KEY",
    n: Annotated[int, typer.Option(min=1, help="number of tasks")] = 8,
    concurrency: Annotated[int, typer.Option(min=1, help="episodes in flight")] = 8,
    out: Annotated[Path | None, typer.Option(help="JSONL of episodes (default runs/ENV-MODEL-sSEED.jsonl)")] = None,
    resume: Annotated[bool, typer.Option(help="continue OUT, skipping finished tasks")] = False,
    overwrite: Annotated[bool, typer.Option(help="start OUT afresh if it exists")] = False,
    max_turns: Annotated[int | None, typer.Option(min=1, help="turn budget per episode")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="completion tokens per generation")] = 256,
    temperature: Annotated[float, typer.Option(min=0)] = 0.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="deadline of one model request, seconds")] = 120.0,
    seed: Annotated[int, typer.Option(help="seed of the task set")] = 0,
    first_tool_choice: Annotated[
        str | None,
        typer.Option(help="tool_choice of each episode's first reply, e.g. required (small models that skip tools)"),
    ] = None,
    env_arg: Annotated[list[str] | None, typer.Option(help="env constructor argument key=value")] = None,
) -> None:
    """Run a policy on N tasks of ENV, write each episode to JSONL, print a summary.

    Options the command does not know are passed to the environment's constructor, e.g.
    `toolgym eval calculator --difficulty 3`.
    """
    try:
        entry = get_env_entry(env)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    kwargs = {**parse_env_args(env_arg or []), **parse_extra_options(ctx.args)}
    try:
        probe = make_env(entry.name, **kwargs)
    except (TypeError, ValueError, ImportError) as exc:
        raise fail(f"cannot build env {entry.name!r} with {kwargs}: {exc}") from None
    if max_turns is not None:
        probe.budget = probe.budget.model_copy(update={"max_turns": max_turns})
    budget = probe.budget
    if probe.tasks is None:
        raise fail(f"env {entry.name!r} has no task source; pass one with --env-arg")
    tasks = probe.tasks.take(n, seed=seed)
    policy = make_policy(model, base_url, api_key_env, timeout)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", policy.name).strip("_")
    out = out or Path("runs") / f"{entry.name}-{slug}-s{seed}.jsonl"
    if out.exists() and out.stat().st_size and not (resume or overwrite):
        raise fail(f"{out} exists: pass --resume to continue it or --overwrite to start it afresh")

    def new_env() -> Any:
        e = make_env(entry.name, **kwargs)
        e.budget = budget
        return e

    runner = Runner(
        new_env,
        FirstTurnToolChoice(policy, first_tool_choice) if first_tool_choice else policy,
        concurrency=concurrency,
        out=out,
        resume=resume,
        sampling=Sampling(max_tokens=max_tokens, temperature=temperature, seed=seed),
        progress=True,
    )

    async def main() -> RunSummary | str:
        try:
            load = getattr(policy, "load", None)
            if load is not None:  # a local model that cannot load fails the command, not every episode
                try:
                    await load()
                except PolicyError as exc:
                    return str(exc)
            return await runner.arun(tasks)
        finally:
            await policy.aclose()
            await probe.aclose()

    summary = asyncio.run(main())
    if isinstance(summary, str):
        raise fail(summary)
    console.print(f"episodes written to [bold]{out}[/bold]")
    print_summary(summary, f"{entry.name} · {policy.name} · {len(tasks)} tasks")


def report(
    runs: Annotated[list[Path], typer.Argument(help="JSONL run files written by `toolgym eval` (one or several)")],
    plot: Annotated[Path | None, typer.Option(help="PNG to write (default: RUN with .png, or report.png)")] = None,
    metric: Annotated[str, typer.Option(help="accuracy measure of a comparison: success, reward or a component")] = (
        "success"
    ),
) -> None:
    """Summarise a run and plot reward against turns and tokens; given several runs (e.g. one per
    --max-turns), compare them and plot accuracy against the turn budget and against tokens used."""
    loaded = []
    for run in runs:
        try:
            episodes = read_episodes(run)
        except (FileNotFoundError, ValueError) as exc:
            raise fail(str(exc)) from None
        if not episodes:
            raise fail(f"{run} holds no episodes")
        loaded.append((run, episodes))
    if len(loaded) > 1:
        _compare(loaded, plot or runs[0].with_name("report.png"), metric)
        return
    run, episodes = loaded[0]
    print_summary(summarize(episodes), str(run))
    from toolgym.report import plot_run

    try:
        path = plot_run(episodes, plot or run.with_suffix(".png"), title=run.name)
    except ImportError:
        raise fail("the plot needs matplotlib: pip install 'toolgym[plot]'") from None
    console.print(f"plot written to [bold]{path}[/bold]")


def _compare(loaded: list[tuple[Path, list[Any]]], plot: Path, metric: str) -> None:
    from toolgym.report import RunPoint, comparison_table, plot_runs

    try:
        points = [RunPoint(run.name, episodes, metric) for run, episodes in loaded]
    except ValueError as exc:
        raise fail(str(exc)) from None
    headers, rows = comparison_table(points)
    table = Table(*headers, title=f"{len(points)} runs")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    try:
        path = plot_runs(points, plot)
    except ImportError:
        raise fail("the plot needs matplotlib: pip install 'toolgym[plot]'") from None
    console.print(f"plot written to [bold]{path}[/bold]")
