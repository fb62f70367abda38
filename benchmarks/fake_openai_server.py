"""A multi-turn fake OpenAI endpoint for the benchmarks, run as its own process.

Each conversation gets a tool call (``add``) until it holds ``--tool-turns`` tool results, then a final
answer, so one episode takes ``tool-turns + 1`` model turns. Prints its base URL once listening.

    python benchmarks/fake_openai_server.py --tool-turns 4 --delay 0
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "toolgym").is_dir():  # measure this checkout, whichever toolgym happens to be installed
    sys.path.insert(0, str(ROOT))

from toolgym.testing.openai_server import Reply, ScriptedOpenAIServer  # noqa: E402


def make_handler(tool_turns: int, delay: float) -> Callable[[dict[str, Any]], Reply]:
    """A handler replying with a tool call per turn until ``tool_turns`` tool results, then an answer."""
    calls = [
        Reply(
            tool_calls=[{"id": f"call_{n}", "name": "add", "arguments": {"a": n, "b": 1}}],
            prompt_tokens=1,
            completion_tokens=1,
            delay=delay,
        )
        for n in range(tool_turns)
    ]
    answer = Reply(content=str(tool_turns), prompt_tokens=1, completion_tokens=1, delay=delay)

    def handler(request: dict[str, Any]) -> Reply:
        done = sum(1 for m in request.get("messages", ()) if m.get("role") == "tool")
        return calls[done] if done < tool_turns else answer

    return handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--tool-turns", type=int, default=4, help="tool-call replies before the final answer")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each reply")
    args = parser.parse_args(argv)
    server = ScriptedOpenAIServer(make_handler(args.tool_turns, args.delay), args.host, args.port, record=False)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


if __name__ == "__main__":
    main()
