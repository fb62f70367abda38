"""OpenAIPolicy against the scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from toolgym.agents.openai_policy import OpenAIPolicy
from toolgym.agents.policy import Policy, PolicyError, Sampling
from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer

MESSAGES = [{"role": "user", "content": "What is 2+3?"}]
TOOLS = [
    {
        "type": "function",
        "function": {"name": "add", "description": "a+b", "parameters": {"type": "object", "properties": {}}},
    }
]
FAST = {"timeout": 2.0, "backoff": 0.001, "max_backoff": 0.01}


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedOpenAIServer]]:
    servers: list[ScriptedOpenAIServer] = []

    def start(*replies: Reply | str, handler=None) -> ScriptedOpenAIServer:
        script = replies or ["ok"]
        srv = ScriptedOpenAIServer(handler) if handler else ScriptedOpenAIServer.from_replies(script)
        servers.append(srv.start())
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
async def policies() -> AsyncIterator[list[OpenAIPolicy]]:
    made: list[OpenAIPolicy] = []
    yield made
    for policy in made:
        await policy.aclose()


@pytest.fixture
def make(policies: list[OpenAIPolicy]) -> Callable[..., OpenAIPolicy]:
    def build(srv: ScriptedOpenAIServer, **kwargs) -> OpenAIPolicy:
        policy = OpenAIPolicy("test-model", base_url=srv.base_url, **{**FAST, **kwargs})
        policies.append(policy)
        return policy

    return build


async def test_plain_reply(serve, make) -> None:
    srv = serve(Reply(content="5", prompt_tokens=12, completion_tokens=3))
    policy = make(srv)
    assert isinstance(policy, Policy) and policy.name == "test-model"
    gen = await policy.generate(MESSAGES)
    assert gen.message == {"role": "assistant", "content": "5"}
    assert (gen.prompt_tokens, gen.completion_tokens, gen.finish_reason) == (12, 3, "stop")
    assert 0 < gen.seconds < 2


async def test_tool_calls_are_normalised(serve, make) -> None:
    calls = [
        {"function": {"name": "add", "arguments": {"a": 2, "b": 3}}},
        {"id": "c2", "type": "function", "function": {"name": "add", "arguments": "{}"}},
    ]
    raw = {
        "choices": [
            {"finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": calls}}
        ]
    }
    policy = make(serve(Reply(body=raw)))
    gen = await policy.generate(MESSAGES, TOOLS)
    calls = gen.message["tool_calls"]
    assert gen.message["role"] == "assistant" and gen.message["content"] is None
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    assert calls[0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert calls[1] == {"id": "c2", "type": "function", "function": {"name": "add", "arguments": "{}"}}
    assert (gen.prompt_tokens, gen.completion_tokens, gen.finish_reason) == (0, 0, "tool_calls")


async def test_request_body(serve, make) -> None:
    srv = serve()
    policy = make(srv, extra_body={"chat_template_kwargs": {"thinking": False}})
    sampling = Sampling(temperature=0.7, top_p=0.9, max_tokens=64, seed=7, stop=["END"], top_k=20)
    await policy.generate(MESSAGES, TOOLS, sampling)
    await policy.generate(MESSAGES)
    body, plain = srv.requests
    assert body["model"] == "test-model" and body["messages"] == MESSAGES and body["tools"] == TOOLS
    assert {k: body[k] for k in ("temperature", "top_p", "max_tokens", "seed", "stop", "top_k")} == {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 64,
        "seed": 7,
        "stop": ["END"],
        "top_k": 20,
    }
    assert body["chat_template_kwargs"] == {"thinking": False}
    assert "tools" not in plain and "max_tokens" not in plain and "seed" not in plain
    assert plain["temperature"] == 0.0


async def test_api_key_header(serve, make, monkeypatch) -> None:
    srv = serve()
    monkeypatch.setenv("TOOLGYM_TEST_KEY", "sk-secret")
    await make(srv, api_key_env="TOOLGYM_TEST_KEY").generate(MESSAGES)
    monkeypatch.delenv("TOOLGYM_TEST_KEY")
    await make(srv, api_key_env="TOOLGYM_TEST_KEY").generate(MESSAGES)
    assert srv.request_headers[0]["authorization"] == "Bearer sk-secret"
    assert "authorization" not in srv.request_headers[1]


async def test_base_url_from_env(serve, policies, monkeypatch) -> None:
    srv = serve("from env")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url + "/")
    policy = OpenAIPolicy("m")
    policies.append(policy)
    assert policy.base_url == srv.base_url
    assert (await policy.generate(MESSAGES)).message["content"] == "from env"


async def test_500_then_200_is_retried(serve, make) -> None:
    srv = serve(Reply(status=500), Reply(status=502), "recovered")
    gen = await make(srv).generate(MESSAGES)
    assert gen.message["content"] == "recovered" and gen.extra["attempts"] == 3
    assert srv.request_count == 3


async def test_persistent_500_gives_up(serve, make) -> None:
    srv = serve(Reply(status=500))
    with pytest.raises(PolicyError) as err:
        await make(srv, max_retries=2).generate(MESSAGES)
    assert err.value.kind == "http_500" and "3 attempts" in str(err.value)
    assert srv.request_count == 3


async def test_429_retry_after_is_honoured(serve, make) -> None:
    srv = serve(Reply(status=429, headers={"Retry-After": "0.3"}), "after wait")
    began = time.perf_counter()
    gen = await make(srv, max_backoff=5.0).generate(MESSAGES)
    assert time.perf_counter() - began >= 0.3
    assert gen.message["content"] == "after wait" and srv.request_count == 2


async def test_429_retry_after_is_capped_and_reported(serve, make) -> None:
    srv = serve(Reply(status=429, headers={"Retry-After": "100"}))
    began = time.perf_counter()
    with pytest.raises(PolicyError) as err:
        await make(srv, max_retries=1, max_backoff=0.05).generate(MESSAGES)
    assert time.perf_counter() - began < 1
    assert err.value.kind == "http_429" and srv.request_count == 2


async def test_hang_times_out_and_is_retried(serve, make) -> None:
    srv = serve(Reply(hang=True))
    began = time.perf_counter()
    with pytest.raises(PolicyError) as err:
        await make(srv, timeout=0.3, max_retries=1).generate(MESSAGES)
    assert 0.55 < time.perf_counter() - began < 2
    assert err.value.kind == "timeout" and "2 attempts" in str(err.value)
    assert srv.request_count == 2


async def test_hang_then_answer(serve, make) -> None:
    srv = serve(Reply(hang=True), "late")
    gen = await make(srv, timeout=0.3).generate(MESSAGES)
    assert gen.message["content"] == "late" and srv.request_count == 2


async def test_400_is_not_retried(serve, make) -> None:
    srv = serve(Reply(status=400, body={"error": {"message": "bad tools"}}))
    with pytest.raises(PolicyError) as err:
        await make(srv).generate(MESSAGES)
    assert err.value.kind == "http_400" and "bad tools" in str(err.value)
    assert srv.request_count == 1


async def test_malformed_body_is_bad_response(serve, make) -> None:
    srv = serve(Reply(body="{not json"), Reply(body={"choices": []}), Reply(body={"id": "x"}))
    with pytest.raises(PolicyError) as err:
        await make(srv, max_retries=3).generate(MESSAGES)
    assert err.value.kind == "bad_response" and srv.request_count == 4


async def test_malformed_then_good(serve, make) -> None:
    srv = serve(Reply(body="{not json"), "fine")
    assert (await make(srv).generate(MESSAGES)).message["content"] == "fine"


async def test_connection_refused(make) -> None:
    srv = ScriptedOpenAIServer().start()
    srv.stop()
    with pytest.raises(PolicyError) as err:
        await make(srv, max_retries=1).generate(MESSAGES)
    assert err.value.kind == "connection" and "2 attempts" in str(err.value)


async def test_200_concurrent_calls_share_one_policy(serve, make) -> None:
    srv = serve(handler=lambda request: Reply(content=request["messages"][0]["content"]))
    policy = make(srv)
    gens = await asyncio.gather(*(policy.generate([{"role": "user", "content": f"q{i}"}]) for i in range(200)))
    assert [g.message["content"] for g in gens] == [f"q{i}" for i in range(200)]
    assert srv.request_count == 200


async def test_aclose_then_reuse(serve, make) -> None:
    policy = make(serve())
    await policy.generate(MESSAGES)
    await policy.aclose()
    assert (await policy.generate(MESSAGES)).message["content"] == "ok"


async def test_max_connections_bounds_the_pool_and_queueing_is_not_timed(serve, make) -> None:
    active, peak = 0, 0

    async def handler(request: dict) -> Reply:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return Reply(content="ok")

    srv = serve(handler=handler)
    policy = make(srv, max_connections=2, timeout=0.2, max_retries=0)
    gens = await asyncio.gather(*(policy.generate(MESSAGES) for _ in range(16)))
    assert len(gens) == 16 and peak == 2 and srv.request_count == 16


def test_policy_survives_a_new_event_loop(serve) -> None:
    policy = OpenAIPolicy("m", base_url=serve().base_url, **FAST)
    for _ in range(2):
        assert asyncio.run(policy.generate(MESSAGES)).message["content"] == "ok"
    asyncio.run(policy.aclose())


def test_rejects_a_base_url_without_http_scheme() -> None:
    with pytest.raises(ValueError):
        OpenAIPolicy("m", base_url="localhost:8000/v1")
