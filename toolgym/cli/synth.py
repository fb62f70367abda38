"""``toolgym synth``: generate synthetic tool-use data, the whole pipeline or one stage at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from toolgym.cli.common import console, fail
from toolgym.synth.config import ConfigError, SynthConfig
from toolgym.synth.harvest import MCPUnavailableError
from toolgym.synth.pipeline import STAGES, Pipeline
from toolgym.synth.stage import StageResult

app = typer.Typer(
    help="Synthetic tool-use data: harvest -> evolve -> agents -> tasks -> rollouts -> filter -> export.",
    no_args_is_help=True,
)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="a synth.yaml (defaults if omitted)")]
OutOption = Annotated[Path | None, typer.Option(help="run folder (overrides the config's `out`)")]
SeedOption = Annotated[int | None, typer.Option(help="seed (overrides the config's `seed`)")]
ProgressOption = Annotated[bool, typer.Option(help="show progress bars")]


def load_config(
    config: Path | None, out: Path | None, seed: int | None, progress: bool, servers: str | None = None
) -> SynthConfig:
    """The config file (or the defaults) with the command-line overrides applied."""
    overrides = {"out": out, "seed": seed}
    try:
        if config is not None:
            loaded = SynthConfig.load(config, **overrides)
        else:
            loaded = SynthConfig.from_dict({k: v for k, v in overrides.items() if v is not None}, "<defaults>")
    except ConfigError as exc:
        raise fail(str(exc)) from None
    loaded.progress = progress
    if servers is not None:
        loaded.harvest.servers = servers
    return loaded


def print_results(results: list[StageResult], out: Path) -> None:
    table = Table("stage", "written", "rejected", "skipped", "requests", "tokens", "seconds", title=str(out))
    for r in results:
        tokens = r.usage.get("prompt_tokens", 0) + r.usage.get("completion_tokens", 0)
        table.add_row(
            r.stage,
            str(r.written),
            str(r.rejected),
            str(r.skipped),
            str(r.usage.get("requests", 0)),
            str(tokens),
            f"{r.seconds:.1f}",
        )
    console.print(table)


def execute(config: SynthConfig, stages: list[str]) -> None:
    """Run ``stages`` and print what each did; configuration problems exit with a clear message."""
    try:
        results = asyncio.run(Pipeline(config).run(stages))
    except (ConfigError, MCPUnavailableError, ValueError) as exc:
        raise fail(str(exc)) from None
    print_results(results, config.out)
    if "export" in stages:
        console.print(f"dataset written to [bold]{config.out / 'export'}[/bold] (card: README.md)")


@app.command()
def run(
    config: ConfigOption = None,
    out: OutOption = None,
    seed: SeedOption = None,
    stages: Annotated[str | None, typer.Option(help=f"comma-separated subset of: {','.join(STAGES)}")] = None,
    progress: ProgressOption = True,
) -> None:
    """Run the whole pipeline (or --stages), resuming whatever an earlier run of the same folder finished."""
    chosen = [s.strip() for s in stages.split(",") if s.strip()] if stages else list(STAGES)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise fail(f"unknown stage(s) {unknown}; stages: {', '.join(STAGES)}")
    execute(load_config(config, out, seed, progress), chosen)


@app.command()
def harvest(
    config: ConfigOption = None,
    out: OutOption = None,
    servers: Annotated[str | None, typer.Option(help='an {"mcpServers": ...} JSON file (overrides the config)')] = None,
    progress: ProgressOption = True,
) -> None:
    """Record the tool specs of the MCP servers in the config (or --servers)."""
    loaded = load_config(config, out, None, progress, servers)
    if not loaded.harvest.servers:
        raise fail("no MCP servers: set harvest.servers in the config or pass --servers")
    execute(loaded, ["harvest"])


def _stage_command(name: str, doc: str) -> None:
    def command(
        config: ConfigOption = None, out: OutOption = None, seed: SeedOption = None, progress: ProgressOption = True
    ) -> None:
        execute(load_config(config, out, seed, progress), [name])

    command.__doc__ = doc
    app.command(name)(command)


_stage_command("evolve", "Synthesize tools: categories -> domains -> tools, deduplicated with the harvested ones.")
_stage_command("agents", "Synthesize agents: a system prompt plus sampled tools and distractors.")
_stage_command("tasks", "Write tasks, simple to complex, each with a rubric, for every agent.")
_stage_command("rollouts", "Record trajectories of the agent model on every task (real or simulated tools).")
_stage_command("filter", "Judge trajectories against their rubrics; keep those that pass the filters.")
_stage_command("export", "Write the dataset (JSONL + Hugging Face) with a train/test split and a dataset card.")
