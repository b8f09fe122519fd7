"""A provider answered by a function, for unit tests with no socket (httpx's `MockTransport`).

`Engine(config, providers={"name": MockProvider(handler)})` routes every call to `handler`;
end-to-end tests use the `FakeLLM` server instead, through the real `openai` provider.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncGenerator, Awaitable, Callable

from .. import ChatRequest, Completion

Handler = Callable[[ChatRequest], "Completion | str | Awaitable[Completion | str]"]


class MockProvider:
    """Answers each call with `handler(request)` (a `Completion`, or text); records `history`.

    A handler that raises fails the call as a provider would. `stream()` yields the answer
    word by word, then the `Completion`.
    """

    def __init__(self, handler: Handler, name: str = "mock") -> None:
        self.name = name
        self.handler = handler
        self.history: list[ChatRequest] = []
        self.closed = False

    async def complete(self, request: ChatRequest) -> Completion:
        self.history.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, str):
            answer = Completion(content=answer, model=request.model, finish_reason="stop")
        return answer

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str | Completion, None]:
        completion = await self.complete(request)
        for piece in re.findall(r"\S+\s*", completion.content):
            yield piece
        yield completion

    async def aclose(self) -> None:
        self.closed = True
