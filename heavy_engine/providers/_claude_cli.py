"""`claude_cli`: answers from the Claude Code CLI (`claude -p --output-format stream-json`).

One subprocess per call, in its own process group, fed the conversation on stdin. The whole group
is killed when the call times out or is cancelled, so nothing keeps spending after a deadline.
Claude Code runs its own tools on what a chat user asks, so each call starts in a fresh empty
working directory (not heavy's, which may hold a `.env` or the database) and without heavy's
secrets in its environment (`SECRET_ENV`, except the CLI's own `ANTHROPIC_API_KEY`).

Limits, on purpose: the engine's tools are not passed through (Claude Code runs its own tool loop
with its own permissions), so agents on this provider answer without heavy's tools; JSON mode is
an instruction in the prompt; an OpenRouter-style model name such as `anthropic/claude-x` loses
its `anthropic/` prefix, and any other name with a `/` is not passed (the CLI default is used).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import tempfile
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from ..core import ChatRequest, Completion, Message, ProviderConfig, ProviderError, Usage
from ..observability import SECRET_ENV
from ._openai_wire import provider_message

log = logging.getLogger("heavy.providers.claude_cli")

_LINE_LIMIT = 32 * 1024 * 1024  # one stream-json line carries a whole message
_STDERR_TAIL = 4000
_JSON_NOTE = "\n\nReply with a single JSON object only, no prose and no code fence."
# Claude Code runs its own tools on what chat users ask; heavy's tokens stay out of its reach.
_HIDDEN_FROM_CLI = frozenset(SECRET_ENV) - {"ANTHROPIC_API_KEY"}


def _plain(content: Any) -> Any:
    """Text parts joined; image parts (attachments) cannot go through the CLI's stdin."""
    if not isinstance(content, list):
        return content
    return "\n".join(str(p.get("text", "")) if p.get("type") == "text" else "[image omitted]"
                     for p in content if isinstance(p, dict))


def render_prompt(messages: list[Message], json_mode: bool = False) -> str:
    """The conversation as one plain-text prompt (the CLI takes a single prompt on stdin)."""
    messages = [{**m, "content": _plain(m.get("content"))} for m in messages]
    if len(messages) == 2 and messages[0].get("role") == "system" and messages[1].get("role") == "user":
        text = f"{messages[0].get('content') or ''}\n\n{messages[1].get('content') or ''}"
    elif len(messages) == 1 and messages[0].get("role") == "user":
        text = str(messages[0].get("content") or "")
    else:
        parts = []
        for m in messages:
            role = m.get("role")
            content = m.get("content") or ""
            if role == "system":
                parts.append(f"[Instructions]\n{content}")
            elif role == "tool":
                parts.append(f"[Tool result {m.get('tool_call_id', '')}]\n{content}")
            elif role == "assistant":
                calls = ", ".join(c["function"]["name"] for c in m.get("tool_calls") or ())
                parts.append(f"[Assistant]\n{content}" + (f"\n(called: {calls})" if calls else ""))
            else:
                parts.append(f"[User]\n{content}")
        text = "\n\n".join(parts)
    return text + _JSON_NOTE if json_mode else text


def cli_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """heavy's environment without heavy's secrets; the CLI keeps its own Anthropic key."""
    return {k: v for k, v in environ.items() if k not in _HIDDEN_FROM_CLI}


def cli_model(model: str) -> str | None:
    """The `--model` value for the CLI, or None to use its default."""
    model = model.removeprefix("anthropic/")
    return model if model and "/" not in model else None


def _usage(result: dict[str, Any]) -> Usage:
    u = result.get("usage") or {}
    prompt = sum(int(u.get(k) or 0) for k in (
        "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    return Usage(prompt_tokens=prompt, completion_tokens=int(u.get("output_tokens") or 0),
                 cost_usd=float(result.get("total_cost_usd") or 0.0), calls=1,
                 cached_tokens=int(u.get("cache_read_input_tokens") or 0))


class _Parser:
    """Reads stream-json events: text deltas out, the final `result` kept."""

    def __init__(self) -> None:
        self.model = ""
        self.texts: list[str] = []
        self.result: dict[str, Any] | None = None
        self._partial = False  # saw stream_event deltas, so whole messages would repeat them

    def feed(self, line: bytes) -> str | None:
        try:
            event = json.loads(line)
        except ValueError:
            return None  # the CLI sometimes prints warnings on stdout; they are not events
        if not isinstance(event, dict):
            return None
        kind = event.get("type")
        if kind == "system" and event.get("model"):
            self.model = str(event["model"])
        elif kind == "stream_event":
            inner = event.get("event") or {}
            delta = inner.get("delta") or {}
            if inner.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
                self._partial = True
                return self._text(str(delta.get("text") or ""))
        elif kind == "assistant" and not self._partial:
            blocks = (event.get("message") or {}).get("content") or ()
            text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
            return self._text(text)
        elif kind == "result":
            self.result = event
        return None

    def _text(self, text: str) -> str | None:
        if text:
            self.texts.append(text)
            return text
        return None


class ClaudeCLIProvider:
    """Runs the Claude Code CLI once per call; tools are not passed through."""

    def __init__(self, name: str, config: ProviderConfig, env: Mapping[str, str]) -> None:
        self.name = name
        self.config = config
        self._argv = shlex.split(config.command) or ["claude"]
        self._slots = asyncio.Semaphore(config.max_concurrency)

    async def aclose(self) -> None:
        return None  # every call reaps its own process

    async def complete(self, request: ChatRequest) -> Completion:
        final: Completion | None = None
        async for item in self.stream(request):
            if isinstance(item, Completion):
                final = item
        assert final is not None
        return final

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        """Text as the CLI produces it, then one `Completion` (usage and cost from `result`)."""
        deadline = asyncio.get_running_loop().time() + request.timeout
        argv = [*self._argv, "-p", "--output-format", "stream-json", "--verbose"]
        if (model := cli_model(request.model)) is not None:
            argv += ["--model", model]
        prompt = render_prompt(request.messages, request.json_mode).encode()
        parser = _Parser()
        async with self._slots:
            with tempfile.TemporaryDirectory(prefix="heavy-claude-",
                                             ignore_cleanup_errors=True) as workdir:
                async with asyncio.timeout_at(deadline):
                    proc = await self._spawn(argv, workdir)
                stderr = asyncio.ensure_future(_tail(proc.stderr))
                try:
                    assert proc.stdin is not None and proc.stdout is not None
                    async with asyncio.timeout_at(deadline):
                        await _feed(proc.stdin, prompt)
                    while True:
                        # The deadline bounds each read; a timeout is never held across a yield.
                        async with asyncio.timeout_at(deadline):
                            line = await self._readline(proc.stdout)
                        if not line:
                            break
                        text = parser.feed(line)
                        if text:
                            yield text
                    async with asyncio.timeout_at(deadline):
                        code = await proc.wait()
                        err = await stderr
                finally:
                    if proc.returncode is None:
                        await _kill(proc)
                    stderr.cancel()
                    with contextlib.suppress(BaseException):
                        await stderr
        yield self._finish(parser, code, err, request)

    async def _spawn(self, argv: list[str], workdir: str) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                cwd=workdir,
                env=cli_environment(os.environ),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=_LINE_LIMIT,
                start_new_session=True,  # its own process group, so a kill reaches its children
            )
        except FileNotFoundError:
            raise ProviderError(self._label(
                f"the Claude Code CLI was not found (command {argv[0]!r}); install it or set "
                f"providers.{self.name}.command")) from None
        except PermissionError:
            raise ProviderError(self._label(f"{argv[0]!r} is not executable")) from None

    async def _readline(self, stdout: asyncio.StreamReader) -> bytes:
        try:
            return await stdout.readline()
        except ValueError:  # asyncio's way of saying the line is over the reader's limit
            raise ProviderError(self._label(
                f"a line of the CLI's output is over {_LINE_LIMIT:,} bytes")) from None

    def _finish(self, parser: _Parser, code: int, stderr: bytes, request: ChatRequest) -> Completion:
        result = parser.result
        if result is None:
            detail = provider_message(stderr) or "no output"
            raise ProviderError(self._label(f"the CLI exited with code {code} without a result: "
                                            f"{detail}"))
        if result.get("is_error") or str(result.get("subtype", "success")) != "success":
            detail = provider_message(str(result.get("result") or result.get("subtype")).encode())
            raise ProviderError(self._label(f"the CLI reported an error: {detail}"))
        text = result.get("result")
        content = text if isinstance(text, str) else "".join(parser.texts)
        return Completion(content=content, usage=_usage(result),
                          model=parser.model or request.model, finish_reason="stop")

    def _label(self, text: str) -> str:
        return f"LLM provider {self.name!r}: {text}"


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    # A CLI that exits early (bad flag, no login) closes stdin; its output says why.
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        stdin.close()


async def _tail(stream: asyncio.StreamReader | None) -> bytes:
    """Drain stderr (a full pipe would block the CLI), keeping the end for error messages."""
    if stream is None:
        return b""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-_STDERR_TAIL:]
    return kept


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the whole process group and reap it; runs even while the caller is cancelled."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await asyncio.shield(proc.wait())
    log.info("killed the Claude CLI process group %d", proc.pid)


def _factory(name: str, config: ProviderConfig, env: Mapping[str, str]) -> ClaudeCLIProvider:
    return ClaudeCLIProvider(name, config, env)
