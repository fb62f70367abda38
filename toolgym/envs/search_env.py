"""SearchEnv: answer questions by searching a corpus (local index or Search-R1 retriever), then answering.

``toolgym eval search --index INDEX --qa QA.jsonl --max-turns 32`` runs it from the command line:
every constructor input is a plain value (paths, URLs, names, numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolgym.envs.tasks import TaskList, TaskSource
from toolgym.envs.tool_env import Messages, ToolEnv
from toolgym.rewards.base import Reward
from toolgym.rewards.judge import JudgeReward
from toolgym.search.backends import LocalIndexBackend, SearchBackend
from toolgym.search.index import SearchIndex
from toolgym.search.qa import QAItem, QAReward, load_qa, read_qa_record
from toolgym.tools.search import SearchToolset
from toolgym.tools.search_tags import INVALID_ACTION_HINT, SearchR1Parser
from toolgym.types import Budget, Message, Scoring, Task

PROTOCOLS = ("tools", "tags")

TOOLS_SYSTEM_PROMPT = (
    "You answer questions by searching a document collection. Call search(query) to find passages "
    "(each has an id), and open(id) to read a passage or a whole document page by page. Search as often "
    "as you need, trying other words when results miss. When you know the answer, {how} with a short "
    "answer: a few words, a name, a number or an expression, as the documents state it."
)

TAGS_PROMPT = (
    "Answer the given question. Think inside <think> and </think> every time you get new information. "
    "If you lack knowledge, search by writing <search> query </search>; the results come back between "
    "<information> and </information>. Each result has an id: read one in full with <open> id </open>. "
    "Search as many times as you want. When you need no more information, give the answer inside "
    "<answer> and </answer> with no explanation, for example <answer> Beijing </answer>. Question: {question}"
)


class SearchEnv(ToolEnv):
    """Question answering with search tools; reward = exact match, F1 and optionally an LLM judge.

    Args:
        index: a local index folder (``toolgym index build``), or use ``retriever_url`` / ``backend``.
        qa: a JSONL file of questions (``id``, ``question``, ``answers``), or QAItems / record dicts.
        retriever_url: a Search-R1 compatible retriever (``http://host:port/retrieve``).
        backend: any SearchBackend (e.g. a ToolsetBackend over an MCP search server).
        max_turns: turn budget (default 16); ``max_tool_calls`` bounds searches + opens.
        k, page_chars, snippet_chars: results per search, characters per opened page and per snippet.
        protocol: ``"tools"`` (native or Hermes tool calls; the answer is the final message or the
            ``answer`` tool) or ``"tags"`` (Search-R1 ``<search>``/``<answer>`` text).
        answer_tool: offer the ``answer`` tool in the tools protocol.
        judge_model, judge_base_url, judge_api_key_env, judge_timeout: grade answers with an LLM judge
            on an OpenAI-compatible endpoint (adds the ``judge`` component and makes it the reward).
        primary: the component that is the reward (``em``, ``f1`` or ``judge``).
    """

    env_name = "search"

    def __init__(
        self,
        index: str | Path | SearchIndex | None = None,
        qa: str | Path | Sequence[QAItem | dict[str, Any]] | TaskSource | None = None,
        *,
        retriever_url: str | None = None,
        backend: SearchBackend | None = None,
        max_turns: int = 16,
        max_tool_calls: int | None = None,
        k: int = 5,
        page_chars: int = 2000,
        snippet_chars: int = 400,
        protocol: str = "tools",
        answer_tool: bool = True,
        judge_model: str | None = None,
        judge_base_url: str | None = None,
        judge_api_key_env: str = "OPENAI_API_KEY",
        judge_timeout: float = 60.0,
        judge: Reward | None = None,
        primary: str | None = None,
        budget: Budget | None = None,
        reward: Reward | None = None,
        **kwargs: Any,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        if sum(x is not None for x in (index, retriever_url, backend)) != 1:
            raise ValueError("SearchEnv needs exactly one of index (a folder), retriever_url or backend")
        if backend is None:
            if retriever_url is not None:
                from toolgym.search.retriever import RetrieverBackend

                backend = RetrieverBackend(str(retriever_url))
            else:
                backend = LocalIndexBackend(index if isinstance(index, SearchIndex) else str(index))
        self.protocol = protocol
        if judge is None and judge_model:
            judge = JudgeReward(
                model=str(judge_model), base_url=judge_base_url, api_key_env=judge_api_key_env, timeout=judge_timeout
            )
        self.judge = judge
        toolset = SearchToolset(backend, k=k, page_chars=page_chars, snippet_chars=snippet_chars)
        if protocol == "tags":
            kwargs.setdefault("parser", SearchR1Parser(toolset.search_name, toolset.open_name))
            final_tool = None
        else:
            final_tool = "answer" if answer_tool else None
            how = "call answer(answer)" if answer_tool else "reply"
            kwargs.setdefault("system_prompt", TOOLS_SYSTEM_PROMPT.format(how=how))
        super().__init__(
            toolset=toolset,
            tasks=self._task_source(qa),
            reward=reward or QAReward(judge, primary),
            budget=budget or Budget(max_turns=max_turns, max_tool_calls=max_tool_calls),
            final_tool=final_tool,
            **kwargs,
        )

    def _task_source(self, qa: Any) -> TaskSource | None:
        if qa is None or isinstance(qa, TaskSource):
            return qa
        if isinstance(qa, str | Path):
            items = load_qa(qa)
        else:
            items = [q if isinstance(q, QAItem) else read_qa_record(q, f"qa[{i}]", f"q{i}") for i, q in enumerate(qa)]
        return TaskList([self.make_task(item) for item in items])

    def make_task(self, item: QAItem) -> Task:
        """The task of one question in this env's protocol."""
        content = TAGS_PROMPT.format(question=item.question) if self.protocol == "tags" else item.question
        return Task(
            id=item.id,
            prompt=[Message(role="user", content=content)],
            scoring=Scoring(answers=item.answers),
            metadata={"question": item.question, **item.metadata},
        )

    async def on_answer(self, message: dict[str, Any]) -> Messages | None:
        """In the tags protocol a reply with no tag is an invalid action: say so and go on (Search-R1's rule)."""
        if self.protocol != "tags" or self.parser.parse(message.get("content") or "").answer is not None:
            return None
        return [{"role": "user", "content": INVALID_ACTION_HINT}]

    async def aclose(self) -> None:
        await super().aclose()
        if isinstance(self.judge, JudgeReward):
            await self.judge.aclose()
