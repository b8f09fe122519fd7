"""The engine gives attached files to every agent and to the synthesis, and notes the rest."""

from __future__ import annotations

import base64
from typing import Any

from heavy_engine import Engine, HeavyRequest
from heavy_engine.attachments import Attachments, Document, Image, run_models
from heavy_engine.testing import FakeLLM, fake_config

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)


def _files(*notes: str) -> Attachments:
    return Attachments(
        documents=[Document("notes.txt", "text", "Ship on Friday."),
                   Document("report.pdf", "pdf", "Revenue rose 12 percent.")],
        images=[Image("chart.png", "image/png", PNG)],
        notes=list(notes),
    )


def _user(body: dict[str, Any] | None) -> Any:
    assert body is not None
    return next(m for m in body["messages"] if m["role"] == "user")["content"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if p.get("type") == "text")


def _images(content: Any) -> list[str]:
    if isinstance(content, str):
        return []
    return [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]


async def test_documents_reach_every_agent_and_the_synthesis(fake_llm: FakeLLM) -> None:
    config = fake_config(fake_llm.base_url, agents=3, tools=[])
    async with Engine(config) as engine:
        result = await engine.run(HeavyRequest(
            "What do the files say?", config, context="Earlier: we talked about revenue.",
            attachments=_files("skipped data.bin: unsupported type")))
    assert result.status == "ok"
    calls = fake_llm.calls("agent") + fake_llm.calls("synthesis") + fake_llm.calls("decompose")
    assert len(calls) == 5
    for call in calls:
        text = _text(_user(call.body))
        assert 'Contents of attached file "notes.txt"' in text and "Ship on Friday." in text
        assert 'PDF text of attached file "report.pdf"' in text
        assert "Earlier: we talked about revenue." in text
        assert _images(_user(call.body)) == []  # fake/model is not marked as seeing images
    assert result.notes == ["skipped data.bin: unsupported type",
                            "skipped chart.png: the model does not accept images"]


async def test_images_go_only_to_models_that_accept_them(fake_llm: FakeLLM) -> None:
    config = fake_config(fake_llm.base_url, agents=2, tools=[], vision_models=["fake/see*"],
                         orchestrator_model="fake/seeing-orchestrator",
                         agent_overrides=[{"model": "fake/seeing"}])
    async with Engine(config) as engine:
        result = await engine.run(HeavyRequest("Describe the chart", config,
                                               attachments=_files()))
    assert result.status == "ok" and result.notes == []
    by_model = {c.body["model"]: _user(c.body) for c in fake_llm.calls("agent") if c.body}
    assert _images(by_model["fake/seeing"]) == [
        "data:image/png;base64," + base64.b64encode(PNG).decode()]
    assert _images(by_model["fake/model"]) == []
    [synthesis] = fake_llm.calls("synthesis")
    assert len(_images(_user(synthesis.body))) == 1
    [decompose] = fake_llm.calls("decompose")
    assert _images(_user(decompose.body)) == []  # the split needs the text only


async def test_no_attachments_changes_nothing(fake_llm: FakeLLM) -> None:
    config = fake_config(fake_llm.base_url, agents=2, tools=[])
    async with Engine(config) as engine:
        result = await engine.run(HeavyRequest("Plain question", config))
    assert result.notes == []
    for call in fake_llm.calls("agent"):
        assert isinstance(_user(call.body), str) and "Attached files" not in _user(call.body)


def test_run_models_lists_agents_and_the_synthesis() -> None:
    config = fake_config("http://127.0.0.1:1/v1", agents=3, orchestrator_model="o",
                         agent_overrides=[{"model": "a"}, {}, {"model": "c"}, {"model": "d"}])
    assert run_models(config) == {"a", "fake/model", "c", "o"}  # agent 4 does not run
    assert run_models(config.with_overrides({"agents": 1})) == {"a", "fake/model"}
