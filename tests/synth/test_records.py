"""Record files, near-duplicate detection, tool-schema checks and the config: no model involved."""

from __future__ import annotations

import pytest

from toolgym.synth.config import ConfigError, SynthConfig
from toolgym.synth.dedupe import MinHasher, jaccard, near_duplicates, tokens
from toolgym.synth.records import Rejection
from toolgym.synth.schemas import ToolSchemaError, check_tool
from toolgym.synth.store import RecordFileError, RecordStore


def test_store_appends_reads_by_id_and_drops_a_partial_tail(tmp_path) -> None:
    store = RecordStore(tmp_path / "r.jsonl", Rejection)
    store.append(Rejection(id="a", stage="s", reason="one"))
    store.append(Rejection(id="b", stage="s", reason="two"))
    store.close()
    with (tmp_path / "r.jsonl").open("a") as fh:
        fh.write('{"id": "c", "stage": "s", "rea')  # killed mid-write
    assert list(store.read()) == ["a", "b"]
    store.append(Rejection(id="c", stage="s", reason="three"))
    store.close()
    assert [r.reason for r in store.read().values()] == ["one", "two", "three"]
    store.write_all([Rejection(id="z", stage="s", reason="only")])
    assert list(store.read()) == ["z"]


def test_store_errors_name_file_line_and_field(tmp_path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a", "stage": "s", "reason": "ok"}\n{"id": "b", "stage": "s"}\n')
    with pytest.raises(RecordFileError, match=r"r\.jsonl:2: field 'reason': Field required"):
        RecordStore(path, Rejection).read()


def test_tokens_split_names_and_drop_stopwords() -> None:
    assert tokens("getUserProfile for the account_id") == {"get", "user", "profile", "account", "id"}
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset()) == 1.0


def test_minhash_is_deterministic_and_tracks_jaccard() -> None:
    a = tokens("search flights between two airports on a given date with filters")
    b = tokens("search flights between two airports on a date with price filters")
    one, two = MinHasher(128), MinHasher(128)
    assert one.signature(a) == two.signature(a)
    agreement = sum(x == y for x, y in zip(one.signature(a), one.signature(b), strict=True)) / 128
    assert abs(agreement - jaccard(a, b)) < 0.2


def test_near_duplicates_keep_the_first_of_each_group() -> None:
    items = [
        ("t1", "get_weather Current weather for a city: temperature, wind and rain"),
        ("t2", "book_flight Book a seat on a flight for a passenger"),
        ("t3", "getWeather current weather for a city with temperature, wind and rain"),
        ("t4", "cancel_flight Cancel a booked flight and refund the passenger"),
        ("t5", "weather_now Current weather for a city: temperature, wind, rain"),
    ]
    assert near_duplicates(items, 0.7) == {"t3": "t1", "t5": "t1"}
    assert near_duplicates(items, 1.0) == {"t3": "t1"}  # the same words once normalized
    many = [(f"x{i}", f"tool number {i} does task {i} for customers of shop {i}") for i in range(300)]
    many.append(("copy", many[137][1]))
    assert near_duplicates(many, 0.9) == {"copy": "x137"}  # found among hundreds through the LSH buckets
    with pytest.raises(ValueError):
        near_duplicates(items, 0)


GOOD = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "the city"},
        "units": {"type": "string", "description": "unit system", "enum": ["metric", "imperial"]},
    },
    "required": ["city"],
}


@pytest.mark.parametrize(
    ("name", "parameters", "message"),
    [
        ("get_weather", {"type": "object", "properties": {"a": {"type": "nonsense"}}}, "not a valid JSON schema"),
        ("get_weather", {"type": "array"}, "must describe an object"),
        ("get_weather", {**GOOD, "required": ["city", "day"]}, "required parameters ['day']"),
        ("get_weather", {**GOOD, "properties": {"city": {"type": "string"}}}, "'city' needs a description"),
        (
            "get_weather",
            {**GOOD, "properties": {"n": {"type": "integer", "description": "n", "enum": ["a"]}}, "required": []},
            "enum values ['a'] are not of type integer",
        ),
        (
            "get_weather",
            {**GOOD, "properties": {"u": {"type": "string", "description": "u", "enum": ["a", "a"]}}, "required": []},
            "distinct",
        ),
        ("GetWeather", GOOD, "snake_case"),
        ("get weather", GOOD, "without whitespace"),
    ],
)
def test_check_tool_rejects_unusable_specs(name, parameters, message) -> None:
    with pytest.raises(ToolSchemaError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_tool(name, "Get the weather for a city.", parameters, strict=True)


def test_check_tool_accepts_good_specs_and_is_lenient_with_real_ones() -> None:
    spec = check_tool("get_weather", "Get the current weather for a city.", GOOD, strict=True)
    assert spec.parameters == GOOD
    check_tool("Ping", "", {"type": "object", "properties": {"x": {}}}, strict=False)  # a real server's tool
    with pytest.raises(ToolSchemaError, match="four words"):
        check_tool("get_weather", "Weather.", GOOD, strict=True)


def test_config_loads_yaml_with_paths_relative_to_the_file(tmp_path) -> None:
    (tmp_path / "synth.yaml").write_text(
        "out: run\nseed: 3\nharvest:\n  servers: servers.json\nevolve:\n  categories: [travel]\n"
        "judge: {model: judge-model, base_url: 'http://127.0.0.1:1/v1'}\n"
    )
    config = SynthConfig.load(tmp_path / "synth.yaml")
    assert config.out == tmp_path / "run" and config.harvest.servers == str(tmp_path / "servers.json")
    assert config.model_for("judge").model == "judge-model" and config.model_for("simulator") == config.model
    assert SynthConfig.load(tmp_path / "synth.yaml", out=tmp_path / "elsewhere").out == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("evolve:\n  tools_per_domain: many\n", "field 'evolve.tools_per_domain': Input should be a valid integer"),
        ("agents:\n  count: 3\n", "field 'agents.count': unknown field"),
        ("model: {model: x, base_url: y, temperature: 1}\n", "field 'model.temperature': unknown field"),
        ("filter: {difficulty: true}\n", "needs a 'reference' model"),
        ("evolve:\n  categories: [a\n", r"synth\.yaml:\d+: not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_config_errors_name_file_and_field(tmp_path, text, message) -> None:
    path = tmp_path / "synth.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        SynthConfig.load(path)
    with pytest.raises(ConfigError, match="no such config file"):
        SynthConfig.load(tmp_path / "missing.yaml")
