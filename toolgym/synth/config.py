"""The pipeline's configuration: one pydantic model, loaded from YAML; errors name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from toolgym.synth.models import ModelSpec


class ConfigError(ValueError):
    """A config that cannot be used, naming the file and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMSettings(_Section):
    """How the generator model is asked for JSON."""

    temperature: float = Field(default=0.7, ge=0)
    max_tokens: int = Field(default=512, ge=16, description="per request")
    attempts: int = Field(default=3, ge=1, le=10, description="tries at a valid reply before a record is rejected")
    structured: bool = Field(default=True, description="send a JSON-schema response_format (constrained decoding)")


class HarvestConfig(_Section):
    """Real tools: an ``{"mcpServers": ...}`` config (a file path, or the mapping inline)."""

    servers: str | dict[str, Any] | None = None
    timeout: float = Field(default=60.0, gt=0, description="deadline for one server to list its tools, seconds")


class EvolveConfig(_Section):
    """Synthetic tools by hierarchical domain evolution: categories -> domains -> tools."""

    categories: list[str] = Field(default_factory=list, description="seed categories; generated when empty")
    n_categories: int = Field(default=2, ge=1, le=50, description="categories to generate when none are given")
    domains_per_category: int = Field(default=1, ge=1, le=20)
    tools_per_domain: int = Field(default=2, ge=0, le=30)
    dedupe_threshold: float = Field(default=0.6, gt=0, le=1, description="token Jaccard above which tools clash")


class AgentsConfig(_Section):
    """Agents: a system prompt plus a seeded sample of tools."""

    n: int = Field(default=2, ge=1)
    tools_per_agent: int = Field(default=3, ge=1, description="the agent's own tools (its domain's)")
    real_tools: int = Field(default=1, ge=0, description="real (harvested) tools added to each agent when any exist")
    distractors: int = Field(default=1, ge=0, description="unrelated tools offered as distractors")


class TasksConfig(_Section):
    """Tasks with rubrics, from simple to complex."""

    per_agent: int = Field(default=2, ge=1)
    difficulties: list[str] = Field(default_factory=lambda: ["simple", "moderate", "complex"], min_length=1)
    pass_threshold: float = Field(default=0.7, ge=0, le=1, description="the rubric's pass mark")


class RolloutsConfig(_Section):
    """Trajectories: a policy works each task against real or simulated tools and a simulated user."""

    per_task: int = Field(default=1, ge=1)
    max_turns: int = Field(default=6, ge=1)
    max_tokens: int = Field(default=256, ge=16, description="completion tokens per agent turn")
    temperature: float = Field(default=0.7, ge=0)
    failure_rate: float = Field(default=0.1, ge=0, le=1)
    edge_case_rate: float = Field(default=0.1, ge=0, le=1)
    user_turns: int = Field(default=1, ge=0)
    first_turn_tool_choice: Literal["auto", "required"] = Field(
        default="auto", description="'required': the agent's first reply must call a tool (tool_choice)"
    )


class FilterConfig(_Section):
    """Which trajectories are kept."""

    pass_threshold: float | None = Field(default=None, ge=0, le=1, description="overrides the rubrics' pass mark")
    require_tool_use: bool = Field(default=True, description="drop trajectories without a successful tool call")
    max_tool_error_rate: float = Field(default=0.5, ge=0, le=1, description="agent-caused tool errors / calls")
    difficulty: bool = Field(default=False, description="drop tasks the reference model already solves")
    dedupe_threshold: float = Field(default=0.8, gt=0, le=1, description="task-request Jaccard for near-duplicates")


class ExportConfig(_Section):
    """The dataset written at the end."""

    name: str = "toolgym-synth"
    test_fraction: float = Field(default=0.2, ge=0, lt=1)
    hf: bool = Field(default=True, description="also save a Hugging Face dataset (needs the datasets package)")


class SynthConfig(_Section):
    """Everything ``toolgym synth run`` needs. Each model defaults to ``model`` (the local model if unset)."""

    out: Path = Path("synth-out")
    seed: int = 0
    concurrency: int = Field(default=4, ge=1)
    progress: bool = True
    model: ModelSpec = Field(default_factory=ModelSpec, description="the generator")
    simulator: ModelSpec | None = Field(default=None, description="plays the tools and the user")
    agent: ModelSpec | None = Field(default=None, description="the policy whose trajectories are recorded")
    judge: ModelSpec | None = None
    reference: ModelSpec | None = Field(default=None, description="for the difficulty filter")
    llm: LLMSettings = Field(default_factory=LLMSettings)
    harvest: HarvestConfig = Field(default_factory=HarvestConfig)
    evolve: EvolveConfig = Field(default_factory=EvolveConfig)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    rollouts: RolloutsConfig = Field(default_factory=RolloutsConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

    @model_validator(mode="after")
    def _reference_for_difficulty(self) -> SynthConfig:
        if self.filter.difficulty and self.reference is None:
            raise ValueError("filter.difficulty needs a 'reference' model")
        return self

    def model_for(self, part: str) -> ModelSpec:
        """The model of ``part`` (simulator, agent, judge, reference), falling back to ``model``."""
        spec = getattr(self, part)
        return spec if spec is not None else self.model

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> SynthConfig:
        """Read a YAML config; relative paths in it are taken from the config file's folder."""
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: reading a YAML config needs PyYAML: pip install pyyaml") from None

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must be a YAML mapping of sections")
        data.update({k: v for k, v in overrides.items() if v is not None})
        config = cls.from_dict(data, str(path))
        base = path.parent
        if not config.out.is_absolute() and overrides.get("out") is None:
            config.out = base / config.out
        servers = config.harvest.servers
        if isinstance(servers, str) and not Path(servers).is_absolute():
            config.harvest.servers = str(base / servers)
        return config

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>") -> SynthConfig:
        """Validate a config mapping; errors name ``source`` and the dotted field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(config)"
            if err["type"] == "extra_forbidden":
                raise ConfigError(f"{source}: field {field!r}: unknown field") from None
            raise ConfigError(f"{source}: field {field!r}: {err['msg']}") from None
