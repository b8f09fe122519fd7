"""The CLI tests' fixtures: heavy pointed at the fake LLM the way a user points it at Ollama."""

from __future__ import annotations

import pytest

from heavy_engine.testing import FakeLLM


@pytest.fixture
def llm_env(fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    """`HEAVY_LLM_BASE_URL` at the fake, as a user points heavy at Ollama."""
    monkeypatch.setenv("HEAVY_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("HEAVY_MODEL", "fake/model")
    return fake_llm
