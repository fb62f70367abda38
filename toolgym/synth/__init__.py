"""Synthetic tool-use data: harvest -> evolve -> agents -> tasks -> rollouts -> filter -> export.

Each stage is a function over the JSONL records of a run folder (resumable, seeded, with bounded concurrency);
:class:`Pipeline` chains them from a :class:`SynthConfig`. Names are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SynthConfig": "toolgym.synth.config",
    "ConfigError": "toolgym.synth.config",
    "ModelSpec": "toolgym.synth.models",
    "Pipeline": "toolgym.synth.pipeline",
    "run_pipeline": "toolgym.synth.pipeline",
    "STAGES": "toolgym.synth.pipeline",
    "harvest_tools": "toolgym.synth.harvest",
    "mcp_toolsets": "toolgym.synth.harvest",
    "evolve_tools": "toolgym.synth.evolve",
    "make_agents": "toolgym.synth.agents",
    "make_tasks": "toolgym.synth.tasks",
    "record_rollouts": "toolgym.synth.rollouts",
    "filter_trajectories": "toolgym.synth.filter",
    "export_dataset": "toolgym.synth.export",
    "StageResult": "toolgym.synth.stage",
    "near_duplicates": "toolgym.synth.dedupe",
    "check_tool": "toolgym.synth.schemas",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolgym.synth' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
