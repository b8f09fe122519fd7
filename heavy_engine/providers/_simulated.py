"""`simulated`: a deterministic offline model that drives the whole pipeline.

It returns valid sub-question JSON, has each agent use the tools a sensible model would for its
sub-question (`calculate` for arithmetic in it, else `web_search` for its key words and
`fetch_url` for one result), and streams a synthesis. It reports its model as `simulated`. Every answer is marked as simulated, so nobody mistakes
it for a real model's output.

It can pace itself like a real model (`pace` seconds a call on average, varying per prompt, and
the synthesis streamed word by word), so every front end shows agents at work. The pace comes
from `HEAVY_SIMULATED_PACE`, else the provider's `pace`; unset, it answers at once, except as
the no-key fallback (`use_simulated`), which sets 0.4 s so a first run shows a live run.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from collections.abc import AsyncGenerator, Mapping

from ..core import (
    SIMULATED_MODEL,
    ChatRequest,
    Completion,
    ConfigError,
    Message,
    ProviderConfig,
    ToolCall,
    Usage,
)

PACE_ENV = "HEAVY_SIMULATED_PACE"

BANNER = (
    "> **[simulated]** No LLM key is configured, so this answer comes from heavy's offline "
    "simulated model. Set `OPENROUTER_API_KEY` (or `HEAVY_LLM_BASE_URL`) for real answers.\n\n"
)
_ASPECTS = ("background and key facts", "main trade-offs", "risks and failure modes",
            "practical recommendation", "alternatives", "evidence to check", "costs", "outlook")


def text_of(message: Message) -> str:
    """A message's text, whether its content is a string or a list of typed parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: list[Message]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return text_of(m)
    return ""


def topic_of(text: str) -> str:
    """The question an engine prompt is about (after its "Your sub-question:" / "Question:")."""
    text = text.rsplit("Your sub-question:", 1)[-1].rsplit("Question:", 1)[-1]
    return " ".join(text.split())[:200]


def pace_from(config: ProviderConfig, env: Mapping[str, str]) -> float:
    """Seconds per call: `HEAVY_SIMULATED_PACE`, else the config's `pace`, else none."""
    raw = env.get("HEAVY_SIMULATED_PACE")
    if raw is None or not raw.strip():
        return config.pace or 0.0
    try:
        pace = float(raw)
    except ValueError:
        pace = -1.0
    if not 0 <= pace <= 60:
        raise ConfigError(f"{PACE_ENV} must be a number of seconds from 0 to 60 (got {raw!r})")
    return pace


class SimulatedProvider:
    def __init__(self, name: str, config: ProviderConfig, delay: float = 0.0) -> None:
        self.name = name
        self.config = config
        self.delay = delay  # seconds per call on average; 0: no waiting at all

    async def _think(self, request: ChatRequest) -> None:
        """Wait like a model would: 0.5-1.5x the pace, the same for the same prompt."""
        if self.delay:
            spread = zlib.crc32(last_user_text(request.messages).encode()) % 1000 / 1000
            await asyncio.sleep(self.delay * (0.5 + spread))

    async def complete(self, request: ChatRequest) -> Completion:
        await self._think(request)
        return self._answer(request)

    def _answer(self, request: ChatRequest) -> Completion:
        if request.purpose == "decompose":
            return self._decompose(request)
        if request.purpose == "synthesis":
            return self._done(self._synthesis(request))
        return self._agent(request)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        await self._think(request)
        completion = self._answer(request)
        for piece in re.findall(r"\S+\s*", completion.content):
            if self.delay:
                await asyncio.sleep(self.delay / 30)  # word by word, as models stream
            yield piece
        yield completion

    async def aclose(self) -> None:
        return None

    def _done(self, text: str, calls: list[ToolCall] | None = None) -> Completion:
        return Completion(content=text, tool_calls=calls or [], usage=Usage(calls=1),
                          model=SIMULATED_MODEL, finish_reason="stop", simulated=True)

    def _decompose(self, request: ChatRequest) -> Completion:
        system = str(request.messages[0].get("content", ""))
        m = re.search(r"exactly (\d+)", system)
        n = int(m.group(1)) if m else 4
        topic = topic_of(last_user_text(request.messages))
        questions = [f"{_ASPECTS[i % len(_ASPECTS)].capitalize()} (part {i + 1}): {topic}"
                     for i in range(n)]
        return self._done(json.dumps({"questions": questions}))

    def _agent(self, request: ChatRequest) -> Completion:
        topic = topic_of(last_user_text(request.messages))
        last = request.messages[-1]
        offered = {t["function"]["name"] for t in request.tools or ()}
        if offered and (call := _next_call(request.messages, offered, topic)):
            return self._done("", [call])
        revising = [text_of(m) for m in request.messages if m["role"] == "assistant" and text_of(m)]
        if not offered and last["role"] == "user" and revising:  # rounds: 2, compare notes
            return self._done(f"{revising[-1]} (Kept after comparing notes.)")
        tool_note = ""
        if last["role"] == "tool" and text_of(last).startswith("URL: "):  # a page it read
            head, _, body = text_of(last).partition("\n\n")
            tool_note = f" According to {head.splitlines()[0][5:]}: {' '.join(body.split())[:400]}"
        elif last["role"] == "tool":
            result = " ".join(text_of(last).split())[:200]
            tool_note = f" The {_tool_name(request.messages, last)} tool returned `{result}`."
        text = (f"[simulated] On *{topic}*: a real model would research this angle here."
                f"{tool_note}")
        return self._done(text)

    def _synthesis(self, request: ChatRequest) -> str:
        body = last_user_text(request.messages)
        headings = re.findall(r"^## Agent \d+: (.+)$", body, re.M)
        question = body.split("\n", 1)[0].removeprefix("Question: ")
        lines = "\n".join(f"- {h}" for h in headings) or "- (no agent findings)"
        found = re.findall(r"^## Agent \d+: .+\n\n(.+)$", body, re.M)
        points = "".join(f"- {f[:500]}\n" for f in found if "According to" in f)
        return (f"{BANNER}## Answer to: {question}\n\n"
                f"The agents looked at these angles:\n\n{lines}\n\n"
                + (f"What they read:\n\n{points}\n" if points else "") +
                "Tool calls, if any, ran for real through the engine; the text is placeholder.")


# Arithmetic as people write it in a question: numbers (or square roots) joined by operators.
_NUMBER = r"(?:sqrt\(\s*\d+(?:\.\d+)?\s*\)|\d+(?:\.\d+)?)"
_OPERATOR = r"(?:\*\*|[-+*/^×÷]|plus|minus|times|multiplied by|divided by)"
_ARITHMETIC = re.compile(rf"{_NUMBER}(?:\s*{_OPERATOR}\s*{_NUMBER})+", re.I)
_IN_SYNTAX = {"^": "**", "×": "*", "÷": "/", "plus": "+", "minus": "-", "times": "*",
              "multiplied by": "*", "divided by": "/"}
_SPELLED = re.compile(r"\^|×|÷|\b(?:plus|minus|times|multiplied by|divided by)\b", re.I)
_KEY_WORD = re.compile(r"[A-Za-z0-9][\w+#.'-]*")
_STOP_WORDS = frozenset("""a an and are as at be best by can could do does for from how i if in is
it its me my of on or our should than that the their there this to us was we what when where which
who why will with would you your use""".split())
_PART = re.compile(r"\(part (\d+)\)")


def arithmetic_in(text: str) -> str | None:
    """The first arithmetic expression in `text`, in the calculate tool's syntax, else None.

    A bare range such as `1990-2000` is not arithmetic: a model would not calculate it.
    """
    for match in _ARITHMETIC.finditer(text):
        found = match.group(0)
        if re.fullmatch(r"\d+-\d+", found):
            continue
        return " ".join(_SPELLED.sub(lambda m: f" {_IN_SYNTAX[m.group(0).lower()]} ",
                                     found).split())
    return None


def key_words(text: str, most: int = 8) -> str:
    """A search query from a sub-question: its words without filler, in order, at most `most`."""
    words = (w.rstrip(".'-") for w in _KEY_WORD.findall(_PART.sub(" ", text)))
    kept = dict.fromkeys(w for w in words if w and w.lower() not in _STOP_WORDS)
    return " ".join(list(kept)[:most]) or " ".join(text.split()[:most])


def _next_call(messages: list[Message], offered: set[str], topic: str) -> ToolCall | None:
    """The call a sensible model would make next for this sub-question, or None to answer.

    First turn: `calculate` when the sub-question holds arithmetic, else `web_search` for its
    key words. After a search: read one result with `fetch_url` (agents of one run read
    different results). After that: answer.
    """
    results = [text_of(m) for m in messages if m.get("role") == "tool"]
    if not results:
        expression = arithmetic_in(topic)
        if expression is not None and "calculate" in offered:
            return ToolCall(id="sim-calculate", name="calculate",
                            arguments=json.dumps({"expression": expression}))
        if "web_search" in offered:
            return ToolCall(id="sim-search", name="web_search",
                            arguments=json.dumps({"query": key_words(topic)}))
        return None
    urls = re.findall(r"^ {3}(https?://\S+)$", results[-1], re.M)
    if urls and "fetch_url" in offered and len(results) == 1:
        part = _PART.search(topic)
        url = urls[(int(part[1]) - 1) % len(urls) if part else 0]
        return ToolCall(id="sim-fetch", name="fetch_url", arguments=json.dumps({"url": url}))
    return None


def _tool_name(messages: list[Message], result: Message) -> str:
    """Which tool produced `result` (from the assistant turn that called it)."""
    for m in messages:
        for call in m.get("tool_calls") or ():
            if call.get("id") == result.get("tool_call_id"):
                return str(call.get("function", {}).get("name") or "tool")
    return "tool"


def _factory(name: str, config: ProviderConfig, env: Mapping[str, str]) -> SimulatedProvider:
    return SimulatedProvider(name, config, delay=pace_from(config, env))
