"""The ``toolgym`` command line."""

from __future__ import annotations

import typer

from toolgym.cli import index, mcp, run, sandbox, synth

app = typer.Typer(help="Multi-turn tool environments, rollouts and evals for agentic RL.", no_args_is_help=True)
app.command()(run.envs)
app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run.eval_)
app.command()(run.report)
app.add_typer(mcp.app, name="mcp")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(index.app, name="index")
app.add_typer(synth.app, name="synth")

__all__ = ["app"]
