import json

import pytest

from toolgym.tools.parsers import HermesParser, NoParser, get_parser


def test_plain_text_has_no_calls():
    parsed = HermesParser().parse("The answer is 42.")
    assert parsed.content == "The answer is 42." and parsed.calls == []


def test_one_and_many_calls():
    text = (
        'Let me compute.\n<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>\n'
        '<tool_call>\n{"name": "mul", "arguments": "{\\"a\\": 3}"}\n</tool_call>'
    )
    parsed = HermesParser().parse(text)
    assert parsed.content == "Let me compute."
    assert [c.name for c in parsed.calls] == ["add", "mul"]
    assert json.loads(parsed.calls[0].arguments) == {"a": 1, "b": 2}
    assert json.loads(parsed.calls[1].arguments) == {"a": 3}
    assert all(c.error is None for c in parsed.calls)


@pytest.mark.parametrize(
    ("body", "error", "name"),
    [
        ('{"name": "add", "arguments": {"a": 1,}}', "not valid JSON", "add"),
        ("not json at all", "not valid JSON", ""),
        ('["add", 1]', "JSON object", ""),
        ('{"arguments": {}}', "no 'name'", ""),
        ('{"name": "add", "arguments": [1, 2]}', "must be a JSON object", "add"),
        ("", "not valid JSON", ""),
    ],
)
def test_malformed_calls_are_reported_not_raised(body, error, name):
    parsed = HermesParser().parse(f"<tool_call>{body}</tool_call>")
    (call,) = parsed.calls
    assert error in call.error
    assert call.name == name


def test_unclosed_call_is_read_to_the_end():
    parsed = HermesParser().parse('<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}')
    assert parsed.calls[0].name == "add" and parsed.calls[0].error is None
    cut = HermesParser().parse('<tool_call>{"name": "add", "argu')
    assert cut.calls[0].error and cut.calls[0].name == "add"


def test_parameters_alias_and_registry():
    parsed = get_parser("hermes").parse('<tool_call>{"name": "f", "parameters": {"x": 1}}</tool_call>')
    assert json.loads(parsed.calls[0].arguments) == {"x": 1}
    assert NoParser().parse("<tool_call>{}</tool_call>").calls == []
    with pytest.raises(ValueError, match="unknown tool-call parser 'xml'"):
        get_parser("xml")
