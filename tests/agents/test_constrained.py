"""JSON-schema constrained decoding: response_format parsing, the llguidance logits processor on the real
SmolLM2 tokenizer, and LocalPolicy honouring a response_format with the real model."""

from __future__ import annotations

import asyncio
import json

import pytest

from toolgym.agents.constrained import (
    forced_tools,
    json_logits_processor,
    response_format_for,
    schema_of,
    tool_call_grammar,
)
from toolgym.agents.openai_policy import OpenAIPolicy
from toolgym.agents.policy import PolicyError, Sampling
from toolgym.agents.structured import ask_json, extract_json, schema_error
from toolgym.testing.openai_server import ScriptedOpenAIServer
from toolgym.tools.parsers import HermesParser
from toolgym.types import ToolSpec

TIME = ToolSpec(
    name="get_time",
    description="Current time in a timezone.",
    parameters={"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
)
CLOCK_OFF = ToolSpec(name="stop_clock", description="Stop the clock.", parameters={"type": "object", "properties": {}})
COLOR = {
    "type": "object",
    "properties": {
        "color": {"enum": ["red", "blue"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 9},
        "label": {"type": "string", "pattern": "^[a-z]{2,8}$"},
    },
    "required": ["color", "count", "label"],
    "additionalProperties": False,
}


def test_schema_of_reads_openai_response_formats() -> None:
    assert schema_of(response_format_for(COLOR)) == COLOR
    assert schema_of({"type": "json_object"}) == {"type": "object"}
    assert schema_of({"type": "text"}) is None and schema_of(None) is None
    with pytest.raises(PolicyError, match="needs a 'schema' object"):
        schema_of({"type": "json_schema", "json_schema": {"name": "x"}})


def test_tool_choice_selects_the_forced_tools() -> None:
    tools = [TIME.to_openai(), CLOCK_OFF.to_openai()]
    assert [f["name"] for f in forced_tools(tools, "required")] == ["get_time", "stop_clock"]
    assert [f["name"] for f in forced_tools(tools, {"type": "function", "function": {"name": "stop_clock"}})] == [
        "stop_clock"
    ]
    assert forced_tools(tools, "auto") == forced_tools(tools, None) == forced_tools(None, "required") == []
    grammar = tool_call_grammar(forced_tools(tools, "required"))
    assert grammar.startswith('start: "<tool_call>" call "</tool_call>"') and '"const": "get_time"' in grammar


def test_extract_json_finds_the_value_or_says_why_not() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Here:\n```json\n{"a": [1, 2]}\n```\nDone.') == {"a": [1, 2]}
    assert extract_json('Sure thing! {"a": 2} Hope it helps') == {"a": 2}
    with pytest.raises(ValueError, match="not valid JSON"):
        extract_json("{'a': 1}")
    with pytest.raises(ValueError, match="empty"):
        extract_json("  ")
    assert schema_error({"color": "green", "count": 1, "label": "ok"}, COLOR).startswith("at 'color'")


async def test_openai_policy_passes_the_response_format_through() -> None:
    with ScriptedOpenAIServer.from_replies(['{"color": "red", "count": 2, "label": "ab"}']) as server:
        policy = OpenAIPolicy("m", base_url=server.base_url, max_retries=0)
        value = await ask_json(policy, [{"role": "user", "content": "a color"}], COLOR, sampling=Sampling(seed=4))
        body = server.requests[0]
    assert value["color"] == "red"
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "reply", "schema": COLOR}}
    assert body["seed"] == 4


@pytest.fixture(scope="module")
def tokenizer():
    """The real SmolLM2 tokenizer (converting the embedded model into the cache first, once, if needed)."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("llguidance")
    from toolgym.agents.local_policy import DEFAULT_MODEL, LocalPolicy, cache_root

    path = cache_root() / "models" / DEFAULT_MODEL
    if not (path / "tokenizer.json").is_file():
        try:
            asyncio.run(LocalPolicy().load())
        except PolicyError as exc:
            pytest.skip(f"the local model is not available: {exc}")
    return transformers.AutoTokenizer.from_pretrained(path)


def test_logits_processor_allows_only_tokens_that_continue_the_schema(tokenizer) -> None:
    torch = pytest.importorskip("torch")
    vocab = len(tokenizer)
    processor = json_logits_processor(
        tokenizer, COLOR, prompt_length=0, eos_ids=[tokenizer.eos_token_id], vocab_size=vocab
    )

    def allowed(text: str) -> set[str]:
        ids = tokenizer.encode(text, add_special_tokens=False) if text else []
        scores = processor(torch.tensor([ids], dtype=torch.long), torch.zeros(1, vocab))
        return {tokenizer.decode([i]) for i in torch.nonzero(scores[0] > float("-inf")).flatten().tolist()}

    start = allowed("")
    assert start and all(t.startswith("{") for t in start)  # compact JSON: an object, no leading space
    inside = allowed('{"color":"')
    assert any(t.startswith("r") for t in inside) and any(t.startswith("b") for t in inside)
    assert not any(t.startswith("g") for t in inside)
    assert tokenizer.eos_token not in inside


def test_unusable_schemas_fail_clearly(tokenizer) -> None:
    with pytest.raises(PolicyError, match="not usable") as info:
        json_logits_processor(tokenizer, {"type": "array", "uniqueItems": True}, 0, [tokenizer.eos_token_id], 100)
    assert info.value.kind == "invalid_response_format"


@pytest.mark.model
async def test_local_policy_honours_the_response_format(tokenizer) -> None:
    from toolgym.agents.local_policy import LocalPolicy

    policy = LocalPolicy()
    try:
        messages = [{"role": "user", "content": "Pick a color, a count and a short label, as JSON."}]
        for seed in (0, 1):
            sampling = Sampling(temperature=0.8, max_tokens=60, seed=seed, response_format=response_format_for(COLOR))
            generation = await policy.generate(messages, None, sampling)
            value = json.loads(generation.message["content"])
            assert schema_error(value, COLOR) is None, generation.message["content"]
            assert generation.finish_reason == "stop"
        plain = await policy.generate(messages, None, Sampling(max_tokens=8))
        assert plain.completion_tokens <= 8
        tools = [TIME.to_openai(), CLOCK_OFF.to_openai()]
        ask = [{"role": "user", "content": "What time is it in Paris?"}]
        forced = await policy.generate(ask, tools, Sampling(max_tokens=60, tool_choice="required"))
        (call,) = HermesParser().parse(forced.message["content"]).calls
        assert call.error is None and call.name in ("get_time", "stop_clock")
        assert schema_error(json.loads(call.arguments), TIME.parameters if call.name == "get_time" else {}) is None
        named = {"type": "function", "function": {"name": "stop_clock"}}
        reply = await policy.generate(ask, tools, Sampling(max_tokens=40, tool_choice=named))
        (call,) = HermesParser().parse(reply.message["content"]).calls
        assert call.name == "stop_clock"
    finally:
        await policy.aclose()
