"""A scripted OpenAI-compatible endpoint for the synth pipeline: answers each request with JSON fit for the
stage that sent it (read from the request's response_format name and prompt), plays a simple agent that calls the
tool its task names, and can be told to misbehave (bad JSON, invalid schemas, failing or malformed judgments)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from toolgym.testing.openai_server import Reply

RETRY_MARK = "That reply was invalid"
CATEGORY_NAMES = ["Travel", "Finance", "Health", "Retail", "Education"]
DESCRIPTIONS = {
    "get": "Fetch a single record by its identifier, with every stored field.",
    "search": "Find records matching filters such as dates, status or owner; returns a ranked list.",
    "create": "Make a new entry from the given details and hand back its fresh identifier.",
    "update": "Change fields of an existing entry, keeping the previous version in history.",
    "cancel": "Cancel an entry so it can no longer be used; refunds follow policy.",
    "analyze": "Compute totals, averages and trends over a period for reporting.",
    "send": "Deliver a message or notification to a customer by email or text.",
    "schedule": "Reserve a time slot on the calendar and confirm availability.",
}
VERBS = {
    "looks up": "get",
    "searches": "search",
    "creates": "create",
    "updates": "update",
    "cancels": "cancel",
    "computes": "analyze",
    "sends": "send",
    "schedules": "schedule",
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _arguments(parameters: dict[str, Any]) -> dict[str, Any]:
    values = {"string": "42", "integer": 42, "number": 4.2, "boolean": True}
    props = parameters.get("properties", {})
    required = parameters.get("required", [])
    return {k: (props[k].get("enum") or [values.get(props[k].get("type"), "42")])[0] for k in required}


class SynthHandler:
    """Stage-aware replies. Misbehaviour switches:

    bad_json_first: response names whose first attempt is not JSON (the retry is fine).
    invalid_tool_focus: a focus word (e.g. "cancels") whose tool always has an invalid schema.
    duplicate_focus: a focus word whose tool near-duplicates the "looks up" tool.
    judge: "pass", "fail", "malformed" (always) or "malformed_once".
    user_continues: the simulated user asks for one more thing before being satisfied.
    """

    def __init__(
        self,
        *,
        bad_json_first: set[str] | None = None,
        invalid_tool_focus: str | None = None,
        duplicate_focus: str | None = None,
        judge: str = "pass",
        user_continues: bool = False,
    ) -> None:
        self.bad_json_first = bad_json_first or set()
        self.invalid_tool_focus, self.duplicate_focus = invalid_tool_focus, duplicate_focus
        self.judge, self.user_continues = judge, user_continues
        self.counts: Counter[str] = Counter()

    def __call__(self, request: dict[str, Any]) -> Reply:
        fmt = request.get("response_format")
        name = fmt["json_schema"]["name"] if fmt else ("agent_turn" if request.get("tools") else "text")
        self.counts[name] += 1
        messages = request["messages"]
        retry = RETRY_MARK in str(messages[-1].get("content"))
        if name in self.bad_json_first and not retry:
            return Reply(content="Sure! Here is the JSON: {not json")
        if name == "agent_turn":
            return self._agent_turn(messages, request["tools"])
        schema = fmt["json_schema"]["schema"] if fmt else {}
        prompt = "\n".join(str(m.get("content")) for m in messages if m["role"] == "user")
        value = getattr(self, f"_{name}")(prompt, schema, retry)
        return value if isinstance(value, Reply) else Reply(content=json.dumps(value))

    def _categories(self, prompt: str, schema: dict[str, Any], retry: bool) -> Any:
        n = schema["properties"]["categories"]["minItems"]
        return {"categories": [{"name": c, "description": f"Apps about {c.lower()}."} for c in CATEGORY_NAMES[:n]]}

    def _domains(self, prompt: str, schema: dict[str, Any], retry: bool) -> Any:
        n = schema["properties"]["domains"]["minItems"]
        category = re.search(r"Category: ([^.]+)\.", prompt).group(1)
        names = [f"{category} {kind} service" for kind in ("booking", "tracking", "planning", "billing")[:n]]
        return {"domains": [{"name": d, "description": f"A {d.lower()} for customers."} for d in names]}

    def _tool(self, prompt: str, schema: dict[str, Any], retry: bool) -> Any:
        app = re.search(r"Application: ([^.]+)\.", prompt).group(1)
        focus = next(word for word in VERBS if word in prompt)
        noun = _slug(app)
        if focus == self.duplicate_focus:
            focus = "looks up"
        name = f"{VERBS[focus]}_{noun}_item"
        parameters = {
            "type": "object",
            "properties": {
                "item_id": {"type": "string", "description": "the id of the item"},
                "detail": {"type": "string", "description": "how much detail", "enum": ["short", "full"]},
            },
            "required": ["item_id"],
        }
        if focus == self.invalid_tool_focus:
            parameters["required"] = ["ghost"]
        return {
            "name": name,
            "description": f"{DESCRIPTIONS[VERBS[focus]]} Part of the {app}.",
            "parameters": parameters,
            "behavior": "Returns the item as JSON; reports not_found when the id is unknown.",
        }

    def _agent(self, prompt: str, schema: dict[str, Any], retry: bool) -> Any:
        domain = re.search(r"assistant for (.+?)\. It can", prompt).group(1)
        return {
            "name": f"{domain} helper",
            "system_prompt": f"You help customers of {domain}. Use the tools, confirm changes, report errors.",
        }

    def _task(self, prompt: str, schema: dict[str, Any], retry: bool) -> Any:
        tools = schema["properties"]["expected_tools"]["items"]["enum"]
        difficulty = re.search(r"\(difficulty: (\w+)\)", prompt).group(1)
        return {
            "request": f"Please use {tools[0]} for item 42 ({difficulty} request).",
            "persona": "A busy customer who writes short messages.",
            "success_criteria": [{"description": f"The assistant calls {tools[0]} for item 42."}],
            "checkpoints": [{"description": "The assistant reports the item to the user.", "weight": 0.5}],
            "expected_tools": tools[:1],
        }

    def _judgment(self, prompt: str, schema: dict[str, Any], retry: bool) -> Any:
        ids = schema["properties"]["criteria"]["required"]
        if self.judge == "malformed" or (self.judge == "malformed_once" and not retry):
            return {"criteria": {"nope": {"met": "yes"}}, "summary": ""}
        met = self.judge != "fail"
        verdicts = {
            i: {"met": met, "score": 1.0 if met else 0.2, "reason": f"criterion {i} {'met' if met else 'missed'}"}
            for i in ids
        }
        return {"criteria": verdicts, "summary": "judged by the scripted judge"}

    def _tool_result(self, prompt: str, schema: dict[str, Any], retry: bool) -> Any:
        name = re.search(r"New call: (\w+)\(", prompt).group(1)
        return {"status": "ok", "result": {"tool": name, "item": "42", "calls_seen": prompt.count("\n- ")}}

    def _user_reply(self, prompt: str, schema: dict[str, Any], retry: bool) -> Any:
        if self.user_continues:
            self.user_continues = False
            return {"done": False, "message": "Thanks. Also tell me the item's status."}
        return {"done": True, "message": ""}

    def _agent_turn(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        if messages[-1]["role"] == "tool":
            return Reply(content=f"Here is what I found: {messages[-1]['content']}")
        names = [t["function"]["name"] for t in tools]
        request = next(m["content"] for m in messages if m["role"] == "user")
        name = next((n for n in names if n in request), names[0])
        spec = next(t["function"] for t in tools if t["function"]["name"] == name)
        return Reply(tool_calls=[{"id": "call_1", "name": name, "arguments": _arguments(spec["parameters"])}])
