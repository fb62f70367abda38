"""Stage 2, evolve: synthetic tools by hierarchical domain evolution (categories -> domains -> tools).

Each tool comes with a description, a JSON-schema for its parameters and its stated behaviour. Every schema
is checked (JSON Schema meta-schema, ToolSpec, usable parameters); invalid replies are retried, then
rejected. The harvested real tools and the synthetic ones are then deduplicated together (real tools win,
then the lower id) into ``evolve/tools.jsonl``, the tool pool of the later stages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolgym.agents.policy import Policy
from toolgym.synth.config import EvolveConfig, LLMSettings
from toolgym.synth.dedupe import near_duplicates, tokens
from toolgym.synth.harvest import read_harvested
from toolgym.synth.records import CategoryRecord, DomainRecord, ToolRecord
from toolgym.synth.schemas import NAME_PATTERN, ToolSchemaError, check_tool
from toolgym.synth.stage import Stage, StageResult
from toolgym.synth.store import RecordStore

SYSTEM = "You design realistic software tools (API functions) for training AI assistants. Reply with JSON only."
FOCUSES = (
    "a tool that looks up or reads one specific item",
    "a tool that searches or lists items matching filters",
    "a tool that creates a new item",
    "a tool that updates or changes an existing item",
    "a tool that cancels, deletes or archives an item",
    "a tool that computes, analyses or summarises data",
    "a tool that sends a message, notification or request",
    "a tool that schedules or books something",
)
_TEXT = {"type": "string", "minLength": 3}
PARAMETER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"enum": ["string", "integer", "number", "boolean"]},
        "description": {"type": "string", "minLength": 3, "maxLength": 80},
        "enum": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 24},
            "minItems": 2,
            "maxItems": 4,
        },
    },
    "required": ["type", "description"],
    "additionalProperties": False,
}
TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "description": {"type": "string", "minLength": 20, "maxLength": 160},
        "parameters": {
            "type": "object",
            "properties": {
                "type": {"const": "object"},
                "properties": {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 3,
                    "additionalProperties": PARAMETER_SCHEMA,
                },
                "required": {
                    "type": "array",
                    "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,30}$"},
                    "maxItems": 3,
                },
            },
            "required": ["type", "properties", "required"],
            "additionalProperties": False,
        },
        "behavior": {"type": "string", "minLength": 20, "maxLength": 200},
    },
    "required": ["name", "description", "parameters", "behavior"],
    "additionalProperties": False,
}


def _named_list(key: str, n: int, name_len: int = 60) -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": name_len},
            "description": {**_TEXT, "maxLength": 200},
        },
        "required": ["name", "description"],
        "additionalProperties": False,
    }
    array = {"type": "array", "items": item, "minItems": n, "maxItems": n}
    return {"type": "object", "properties": {key: array}, "required": [key], "additionalProperties": False}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"


def _distinct_names(key: str) -> Any:
    def validate(value: dict[str, Any]) -> str | None:
        names = [item["name"].strip().lower() for item in value[key]]
        if len(set(names)) != len(names):
            return f"the {key} must have distinct names"
        return None

    return validate


def _tool_problem(value: dict[str, Any]) -> str | None:
    try:
        check_tool(value["name"], value["description"], value["parameters"], strict=True)
    except ToolSchemaError as exc:
        return str(exc)
    return None


async def evolve_tools(
    policy: Policy,
    out: str | Path,
    config: EvolveConfig | None = None,
    *,
    llm: LLMSettings | None = None,
    seed: int = 0,
    concurrency: int = 4,
    progress: bool = False,
) -> StageResult:
    """Generate categories, domains and tools with ``policy``; write the deduplicated pool (harvested real tools
    first) to ``out/evolve/tools.jsonl``. Finished records are kept on a re-run."""
    config = config or EvolveConfig()
    stage = Stage("evolve", out, policy=policy, llm=llm, seed=seed, concurrency=concurrency, progress=progress)
    categories = await _categories(stage, config)
    domains = await _domains(stage, config, categories)
    candidates = await _tools(stage, config, domains, categories)
    pool = _deduplicate(stage, read_harvested(out), candidates, config.dedupe_threshold)
    stage.store("tools.jsonl", ToolRecord).write_all(pool)
    return stage.finish()


async def _categories(stage: Stage, config: EvolveConfig) -> list[CategoryRecord]:
    store = stage.store("categories.jsonl", CategoryRecord)
    existing = store.read()
    if existing:
        return list(existing.values())
    if config.categories:
        records = [CategoryRecord(id=f"c{i}-{_slug(n)}", name=n) for i, n in enumerate(config.categories)]
        store.write_all(records)
        return records
    n = config.n_categories

    async def generate() -> None:
        prompt = (
            f"List {n} distinct categories of software applications in which an assistant would use tools "
            "(for example: personal finance, travel, healthcare). Give each a short name and a one-sentence "
            'description, as {"categories": [{"name": ..., "description": ...}]}.'
        )
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        value = await stage.ask(
            messages,
            _named_list("categories", n, 40),
            key="categories",
            validate=_distinct_names("categories"),
            name="categories",
        )
        records = [
            CategoryRecord(id=f"c{i}-{_slug(c['name'])}", name=c["name"].strip(), description=c["description"])
            for i, c in enumerate(value["categories"])
        ]
        store.write_all(records)
        stage.result.written += len(records)

    await stage.run([("categories", generate)], None, label="evolve: categories")
    return list(store.read().values())


async def _domains(stage: Stage, config: EvolveConfig, categories: Sequence[CategoryRecord]) -> list[DomainRecord]:
    store = stage.store("domains.jsonl", DomainRecord)
    done = {d.category for d in store.read().values()}
    n = config.domains_per_category

    def generate(category: CategoryRecord) -> Any:
        async def run() -> None:
            prompt = (
                f"Category: {category.name}. {category.description}\nName {n} distinct applications or services "
                "in this category that offer tools to an assistant (for example: an airline booking service), "
                'each with a one-sentence description, as {"domains": [{"name": ..., "description": ...}]}.'
            )
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
            value = await stage.ask(
                messages,
                _named_list("domains", n),
                key=category.id,
                validate=_distinct_names("domains"),
                name="domains",
            )
            for j, domain in enumerate(value["domains"]):
                record = DomainRecord(
                    id=f"{category.id}-d{j}",
                    category=category.id,
                    name=domain["name"].strip(),
                    description=domain["description"].strip(),
                )
                store.append(record)
                stage.result.written += 1

        return run

    items = [(category.id, generate(category)) for category in categories if category.id not in done]
    try:
        await stage.run(items, None, label="evolve: domains")
    finally:
        store.close()
    return sorted(store.read().values(), key=lambda d: d.id)


async def _tools(
    stage: Stage, config: EvolveConfig, domains: Sequence[DomainRecord], categories: Sequence[CategoryRecord]
) -> list[ToolRecord]:
    names = {c.id: c.name for c in categories}
    store = stage.store("candidates.jsonl", ToolRecord)

    def generate(domain: DomainRecord, k: int, record_id: str) -> Any:
        focus = FOCUSES[(k + stage.seed_for(domain.id)) % len(FOCUSES)]

        async def run() -> ToolRecord:
            prompt = (
                f"Application: {domain.name}. {domain.description} (category: {names.get(domain.category, '')})\n"
                f"Design {focus} that this application offers to an assistant. Reply with JSON: name (snake_case), "
                "description (what it does and what it returns), parameters (a JSON schema of type object: "
                "properties, each with a type and a description, and the list of required ones), behavior "
                "(what it returns on success, and which errors it reports and when)."
            )
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
            value = await stage.ask(messages, TOOL_SCHEMA, key=record_id, validate=_tool_problem, name="tool")
            spec = check_tool(value["name"], value["description"].strip(), value["parameters"], strict=True)
            return ToolRecord(
                id=record_id,
                spec=spec,
                source="synthetic",
                category=names.get(domain.category),
                domain=domain.name,
                behaviour=value["behavior"].strip(),
            )

        return run

    items = [
        (f"{domain.id}-t{k}", generate(domain, k, f"{domain.id}-t{k}"))
        for domain in domains
        for k in range(config.tools_per_domain)
    ]
    records = await stage.run(items, store, label="evolve: tools")
    return sorted(records.values(), key=lambda r: r.id)


def tool_text(record: ToolRecord) -> str:
    """What near-duplicate detection compares: the name's words and the description."""
    return f"{record.spec.name} {record.spec.description}"


def _deduplicate(
    stage: Stage, real: Sequence[ToolRecord], synthetic: Sequence[ToolRecord], threshold: float
) -> list[ToolRecord]:
    ordered = [*real, *synthetic]
    duplicates = near_duplicates([(r.id, tool_text(r)) for r in ordered], threshold)
    seen_names: dict[str, str] = {}
    pool: list[ToolRecord] = []
    for record in ordered:
        name_key = " ".join(sorted(tokens(record.spec.name))) or record.spec.name
        if record.id in duplicates:
            reason = f"near-duplicate of tool {duplicates[record.id]}"
        elif name_key in seen_names:
            reason = f"same name as tool {seen_names[name_key]}"
        else:
            seen_names[name_key] = record.id
            pool.append(record)
            continue
        if not record.real:
            stage.reject(record.id, reason, record.spec.model_dump())
        else:  # two servers with the same tool: both stay, agents pick at most one of a name
            pool.append(record)
    return pool


def read_pool(out: str | Path) -> list[ToolRecord]:
    """The deduplicated tool pool of a run folder."""
    return list(RecordStore(Path(out) / "evolve" / "tools.jsonl", ToolRecord).read().values())
