"""Chain the stages: harvest -> evolve -> agents -> tasks -> rollouts -> filter -> export.

Each stage reads what the earlier ones wrote in the run folder, so any stage can be run (or re-run) alone and a
re-run resumes where the last one stopped. Policies are built once per distinct model and shared.
"""

from __future__ import annotations

from collections.abc import Sequence

from toolgym.synth.agents import make_agents
from toolgym.synth.config import SynthConfig
from toolgym.synth.evolve import evolve_tools
from toolgym.synth.export import export_dataset
from toolgym.synth.filter import filter_trajectories
from toolgym.synth.harvest import harvest_tools, mcp_toolsets
from toolgym.synth.models import PolicyPool
from toolgym.synth.rollouts import record_rollouts
from toolgym.synth.stage import StageResult, read_stats
from toolgym.synth.store import write_json
from toolgym.synth.tasks import make_tasks
from toolgym.tools.base import Toolset

STAGES = ("harvest", "evolve", "agents", "tasks", "rollouts", "filter", "export")


class Pipeline:
    """The stages of one config, sharing policies (one per model) and the real toolsets (one per server)."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        self.policies = PolicyPool()
        self._toolsets: dict[str, Toolset] | None = None

    def toolsets(self) -> dict[str, Toolset]:
        """The real toolsets of ``harvest.servers`` (none if unset), built once."""
        if self._toolsets is None:
            servers = self.config.harvest.servers
            self._toolsets = mcp_toolsets(servers) if servers else {}
        return self._toolsets

    def models_used(self) -> dict[str, str]:
        """The model of each part, as named in the dataset card."""
        config, parts = self.config, ["generator", "simulator", "agent", "judge"]
        if config.filter.difficulty:
            parts.append("reference")
        return {p: config.model_for("model" if p == "generator" else p).label for p in parts}

    async def run_stage(self, name: str) -> StageResult:
        """Run one stage of the config."""
        c = self.config
        common = {"seed": c.seed, "concurrency": c.concurrency, "progress": c.progress}
        policy = self.policies.acquire
        if name == "harvest":
            return await harvest_tools(
                self.toolsets(), c.out, timeout=c.harvest.timeout, concurrency=c.concurrency, progress=c.progress
            )
        if name == "evolve":
            return await evolve_tools(policy(c.model), c.out, c.evolve, llm=c.llm, **common)
        if name == "agents":
            return await make_agents(policy(c.model), c.out, c.agents, llm=c.llm, **common)
        if name == "tasks":
            return await make_tasks(policy(c.model), c.out, c.tasks, llm=c.llm, **common)
        if name == "rollouts":
            return await record_rollouts(
                policy(c.model_for("agent")),
                policy(c.model_for("simulator")),
                c.out,
                c.rollouts,
                real_tools=self.toolsets(),
                structured=c.llm.structured,
                **common,
            )
        if name == "filter":
            return await filter_trajectories(
                policy(c.model_for("judge")),
                c.out,
                c.filter,
                reference=policy(c.model_for("reference")) if c.filter.difficulty else None,
                simulator=policy(c.model_for("simulator")),
                rollouts_config=c.rollouts,
                real_tools=self.toolsets() if c.filter.difficulty else None,
                structured=c.llm.structured,
                **common,
            )
        if name == "export":
            return export_dataset(c.out, c.export, seed=c.seed, models=self.models_used())
        raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")

    async def run(self, stages: Sequence[str] = STAGES) -> list[StageResult]:
        """Run ``stages`` in pipeline order; closes the policies and toolsets at the end."""
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {', '.join(STAGES)}")
        self._note_models()
        try:
            return [await self.run_stage(name) for name in STAGES if name in stages]
        finally:
            await self.aclose()

    def _note_models(self) -> None:
        stats = read_stats(self.config.out)
        stats["models"] = self.models_used()
        write_json(self.config.out / "stats.json", stats)

    async def aclose(self) -> None:
        toolsets, self._toolsets = self._toolsets or {}, None
        for toolset in toolsets.values():
            await toolset.aclose()
        await self.policies.aclose()


async def run_pipeline(config: SynthConfig, stages: Sequence[str] = STAGES) -> list[StageResult]:
    """Run the pipeline (or the named stages of it) for ``config``."""
    return await Pipeline(config).run(stages)
