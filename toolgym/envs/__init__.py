"""Environments: ToolEnv (async core + Gymnasium facade), the registry and the built-in envs."""

from toolgym.envs.registry import ENVS, EnvEntry, get_env_entry, make_env, register_env
from toolgym.envs.tasks import GeneratedTasks, TaskFileError, TaskList, TaskSource, load_tasks
from toolgym.envs.tool_env import ToolEnv

register_env(
    "calculator",
    "toolgym.envs.calculator:CalculatorEnv",
    "Arithmetic with add/subtract/multiply/divide tools; seeded tasks, difficulty = operations.",
)
register_env(
    "mcp",
    "toolgym.envs.mcp_env:MCPEnv",
    "Tasks from a JSONL file, tools from MCP servers (an mcpServers JSON).",
)
register_env(
    "code",
    "toolgym.envs.code_env:CodeEnv",
    "Python coding tasks in a sandbox (Docker, else local); hidden tests run in a fresh sandbox.",
)
register_env(
    "search",
    "toolgym.envs.search_env:SearchEnv",
    "Answer questions by searching a corpus (local BM25 index or Search-R1 retriever); EM/F1/judge rewards.",
)
register_env(
    "simulated",
    "toolgym.envs.simulated_env:SimulatedToolEnv",
    "Generated tasks (toolgym synth) with LLM-simulated tools, a simulated user and a rubric judge; --tasks FILE.",
)

__all__ = [
    "ENVS",
    "EnvEntry",
    "GeneratedTasks",
    "TaskFileError",
    "TaskList",
    "TaskSource",
    "ToolEnv",
    "get_env_entry",
    "load_tasks",
    "make_env",
    "register_env",
]
