"""JSON-schema constrained decoding for local models: a transformers logits processor driven by llguidance.

``Sampling(response_format={"type": "json_schema", "json_schema": {"schema": {...}}})`` asks any policy for JSON
matching a schema, and ``Sampling(tool_choice="required")`` for a tool call; endpoints honour both server-side, and
:class:`~toolgym.agents.local_policy.LocalPolicy` honours them with a logits processor that masks every token
leaving the allowed language (:func:`constraint_for`). The grammar engine is llguidance (Rust; a mask costs well
under a millisecond), so small CPU models can still be made to emit valid JSON and well-formed tool calls.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

from toolgym.agents.policy import PolicyError

INSTALL_HINT = "pip install llguidance"
_TOKENIZERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def response_format_for(schema: dict[str, Any], name: str = "reply") -> dict[str, Any]:
    """The OpenAI ``response_format`` asking for JSON that matches ``schema``."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def schema_of(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema an OpenAI-style ``response_format`` asks for (``json_object``: any object), or None."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise PolicyError("invalid_response_format", "response_format json_schema needs a 'schema' object")
    return schema


def _llguidance() -> Any:
    try:
        import llguidance
        import llguidance.hf
    except ImportError:
        raise PolicyError(
            "constrained_decoding", f"JSON-schema constrained decoding of local models needs llguidance: {INSTALL_HINT}"
        ) from None
    return llguidance


def _ll_tokenizer(tokenizer: Any, eos_ids: list[int], vocab_size: int) -> Any:
    """llguidance's view of ``tokenizer`` (about a second to build; cached per tokenizer)."""
    llg = _llguidance()
    key = (tuple(sorted(eos_ids)), vocab_size)
    cached = _TOKENIZERS.get(tokenizer)
    if cached is None or cached[0] != key:
        n_vocab = max(vocab_size, len(tokenizer))
        cached = (key, llg.hf.from_tokenizer(tokenizer, n_vocab=n_vocab, eos_token=sorted(eos_ids)))
        _TOKENIZERS[tokenizer] = cached
    return cached[1]


class JsonSchemaLogitsProcessor:
    """Masks the logits of every token that cannot continue JSON matching the schema (batch size 1).

    Feeds the matcher the tokens generated since the prompt; should the matcher ever reject one (it cannot while
    the mask is applied), the constraint steps aside and the caller's validation judges the text.
    """

    def __init__(self, matcher: Any, prompt_length: int) -> None:
        self.matcher = matcher
        self.prompt_length = prompt_length
        self._fed = 0
        self._allowed: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np
        import torch

        generated = input_ids[0, self.prompt_length :].tolist()
        for token in generated[self._fed :]:
            self.matcher.consume_token(token)
        self._fed = len(generated)
        if self.matcher.is_error():
            return scores
        bits = np.unpackbits(np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
        width = scores.shape[-1]
        allowed = torch.zeros(width, dtype=torch.bool)
        n = min(width, bits.shape[0])
        allowed[:n] = torch.from_numpy(bits[:n].astype(bool))
        return scores.masked_fill(~allowed, float("-inf"))

    @property
    def error(self) -> str | None:
        """Why the matcher stopped following the text, if it did."""
        return self.matcher.get_error() if self.matcher.is_error() else None


def _processor(
    tokenizer: Any, grammar: str, prompt_length: int, eos_ids: list[int], vocab_size: int, what: str
) -> JsonSchemaLogitsProcessor:
    llg = _llguidance()
    matcher = llg.LLMatcher(_ll_tokenizer(tokenizer, eos_ids, vocab_size), grammar, log_level=0)
    if matcher.is_error():
        raise PolicyError("invalid_response_format", f"{what} is not usable: {matcher.get_error()}")
    return JsonSchemaLogitsProcessor(matcher, prompt_length)


def json_logits_processor(
    tokenizer: Any, schema: dict[str, Any], prompt_length: int, eos_ids: list[int], vocab_size: int
) -> JsonSchemaLogitsProcessor:
    """A logits processor keeping generation inside ``schema`` (compact JSON, then an end-of-sequence token)."""
    llg = _llguidance()
    try:
        grammar = llg.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
    except (ValueError, TypeError) as exc:
        raise PolicyError("invalid_response_format", f"response_format schema is not usable: {exc}") from None
    return _processor(tokenizer, grammar, prompt_length, eos_ids, vocab_size, "response_format schema")


def forced_tools(tools: list[dict[str, Any]] | None, tool_choice: Any) -> list[dict[str, Any]]:
    """The tools an OpenAI ``tool_choice`` forces a call to: all for ``"required"``, one for
    ``{"type": "function", "function": {"name": ...}}``, none otherwise (``"auto"``, ``"none"``, unset)."""
    functions = [t.get("function", t) for t in tools or []]
    if tool_choice == "required":
        return functions
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        return [f for f in functions if f.get("name") == name]
    return []


def tool_call_grammar(functions: list[dict[str, Any]], strict_arguments: bool = True) -> str:
    """A Lark grammar (llguidance) for one Hermes-style ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
    naming one of ``functions``, with arguments matching its schema (any object if not ``strict_arguments``)."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": f["name"]},
                "arguments": (f.get("parameters") or {"type": "object"}) if strict_arguments else {"type": "object"},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for f in functions
    ]
    return 'start: "<tool_call>" call "</tool_call>"\ncall: %json ' + json.dumps({"anyOf": options})


def constraint_for(
    extra: dict[str, Any],
    tools: list[dict[str, Any]] | None,
    tokenizer: Any,
    prompt_length: int,
    eos_ids: list[int],
    vocab_size: int,
) -> JsonSchemaLogitsProcessor | None:
    """The logits processor a request's extra sampling fields ask for: a ``response_format`` JSON schema, or a
    forced tool call (``tool_choice``: ``"required"`` or a named function); None when unconstrained.

    A tool whose argument schema the grammar engine cannot take is still forced, with any object as arguments.
    """
    schema = schema_of(extra.get("response_format"))
    if schema is not None:
        return json_logits_processor(tokenizer, schema, prompt_length, eos_ids, vocab_size)
    functions = forced_tools(tools, extra.get("tool_choice"))
    if not functions:
        return None
    llg = _llguidance()
    try:
        grammar = llg.LLMatcher.grammar_from_lark(tool_call_grammar(functions))
        return _processor(tokenizer, grammar, prompt_length, eos_ids, vocab_size, "tool_choice")
    except (ValueError, PolicyError):
        grammar = llg.LLMatcher.grammar_from_lark(tool_call_grammar(functions, strict_arguments=False))
        return _processor(tokenizer, grammar, prompt_length, eos_ids, vocab_size, "tool_choice")
