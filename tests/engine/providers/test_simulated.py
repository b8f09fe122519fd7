"""The simulated model says what it is and uses tools as a sensible model would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heavy_engine import Engine, HeavyConfig, HeavyRequest
from heavy_engine.cli import main
from heavy_engine.core._config import use_simulated
from heavy_engine.core._events import ToolCalled
from heavy_engine.providers._simulated import arithmetic_in, key_words


@pytest.mark.parametrize(("text", "expression"), [
    ("What is 12*17+sqrt(144)?", "12*17+sqrt(144)"),  # operators and a square root
    ("How much is 3 times 4 plus 2?", "3 * 4 + 2"),  # operators in words
    ("Is 2^10 more than 1000?", "2 ** 10"),  # a power as people write it
    ("Cost of 1.5 × 40 hours?", "1.5 * 40"),  # decimals and the multiplication sign
    ("What happened in 1990-2000?", None),  # a range of years is not a subtraction
    ("Which database suits a small web app?", None),  # no numbers at all
    ("Which of PostgreSQL 16 and MySQL 8 is faster?", None),  # numbers, but no arithmetic
])
def test_arithmetic_is_found_only_where_a_question_has_some(
    text: str, expression: str | None
) -> None:
    assert arithmetic_in(text) == expression


@pytest.mark.parametrize(("text", "query"), [
    # the simulated decomposition's angle and part number: the angle stays, filler goes
    ("Risks and failure modes (part 3): Should I use PostgreSQL or MySQL for a web app?",
     "Risks failure modes PostgreSQL MySQL web app"),
    ("What is the capital of Australia?", "capital Australia"),  # a plain question
    ("the the the", "the the the"),  # nothing but filler: the words as they are
    ("Is C++ or C# better for games, e.g. Unity?", "C++ C# better games e.g Unity"),  # symbols
])
def test_a_search_query_keeps_the_key_words(text: str, query: str) -> None:
    assert key_words(text) == query


async def _run(config: HeavyConfig, question: str, tmp_path: Path) -> tuple[list[ToolCalled], object]:
    async with Engine(config, scratch_root=tmp_path) as engine:
        run = engine.start(HeavyRequest(question, config))
        calls = [e async for e in run.stream() if isinstance(e, ToolCalled)]
        return calls, await run


async def test_a_question_about_databases_is_searched_not_calculated(tmp_path: Path) -> None:
    config = use_simulated(HeavyConfig(agents=2))
    calls, _ = await _run(config, "Should I use PostgreSQL or MySQL for a web app?", tmp_path)
    assert {c.tool for c in calls} == {"web_search"}
    assert all("PostgreSQL MySQL web app" in c.arguments for c in calls)


async def test_a_question_with_arithmetic_is_calculated(tmp_path: Path) -> None:
    config = use_simulated(HeavyConfig(agents=1))
    calls, result = await _run(config, "What is 12*17+sqrt(144)?", tmp_path)
    assert [(c.tool, c.arguments) for c in calls] == [
        ("calculate", '{"expression": "12*17+sqrt(144)"}')]
    assert "The calculate tool returned `216`." in result.answer  # type: ignore[attr-defined]


@pytest.mark.parametrize("config", [
    use_simulated(HeavyConfig(agents=2, model="openai/gpt-4o-mini")),  # the no-key fallback
    HeavyConfig(provider="simulated", agents=2, model="openai/gpt-4o"),  # chosen in config.yaml
    HeavyConfig(provider="simulated", agents=2, orchestrator_model="x/orchestrator"),
])
async def test_the_simulated_model_is_named_simulated(config: HeavyConfig, tmp_path: Path) -> None:
    _, result = await _run(config, "Which database?", tmp_path)
    assert result.models == ["simulated"]  # type: ignore[attr-defined]
    assert {a.model for a in result.agents} == {"simulated"}  # type: ignore[attr-defined]


def test_heavy_ask_json_and_footer_name_the_simulated_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ask", "--agents", "2", "--json", "Which database?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["simulated"] and {a["model"] for a in out["agents"]} == {"simulated"}
    assert main(["ask", "--agents", "2", "Which database?"]) == 0
    err = capsys.readouterr().err
    assert "simulated · 2/2 agents" in err and "gpt-4o" not in err
