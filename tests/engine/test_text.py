import random
import re

import pytest

from heavy_engine import AgentSummary, RunResult, Usage
from heavy_engine.text import footer, split_markdown, transcript

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.M)


def balanced(chunk: str) -> bool:
    return len(FENCE.findall(chunk)) % 2 == 0


def words(text: str) -> list[str]:
    return [w for w in text.split() if not w.startswith(("```", "~~~"))]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        # short text is returned whole
        ("hello", 100, ["hello"]),
        # empty text gives no chunks at all
        ("", 100, []),
        # paragraphs are kept together and split at the blank line
        ("a" * 30 + "\n\n" + "b" * 30, 50, ["a" * 30, "b" * 30]),
        # a fence cut in two is closed and reopened with its language
        (
            "```py\n" + "\n".join(["x = 1"] * 12) + "\n```",
            50,
            [
                "```py\n" + "\n".join(["x = 1"] * 6) + "\n```",
                "```py\n" + "\n".join(["x = 1"] * 6) + "\n```",
            ],
        ),
        # prose before a fence breaks at the paragraph, not inside the code
        (
            "intro line\n\n```\ncode a\ncode b\ncode c\ncode d\ncode e\n```",
            45,
            ["intro line", "```\ncode a\ncode b\ncode c\ncode d\ncode e\n```"],
        ),
    ],
)
def test_split_table(text: str, limit: int, expected: list[str]) -> None:
    assert split_markdown(text, limit) == expected


def test_long_line_is_wrapped_at_spaces() -> None:
    text = " ".join(["word"] * 100)
    chunks = split_markdown(text, 60)
    assert all(len(c) <= 60 for c in chunks)
    assert words(" ".join(chunks)) == words(text)


def test_limit_too_small() -> None:
    with pytest.raises(ValueError, match="at least"):
        split_markdown("x" * 100, 10)


@pytest.mark.parametrize("seed", range(40))
def test_random_documents_respect_limit_and_fences(seed: int) -> None:
    rng = random.Random(seed)
    parts = []
    for _ in range(rng.randint(1, 30)):
        kind = rng.random()
        if kind < 0.3:
            lang = rng.choice(["", "python", "sql"])
            body = "\n".join(
                " ".join(rng.choice(["a", "bb", "ccc", "dddd"]) for _ in range(rng.randint(1, 30)))
                for _ in range(rng.randint(1, 15))
            )
            parts.append(f"```{lang}\n{body}\n```")
        elif kind < 0.4:
            parts.append("x" * rng.randint(100, 400))  # an unbreakable run
        else:
            parts.append(" ".join(rng.choice(["lorem", "ipsum", "dolor", "**sit**"])
                                  for _ in range(rng.randint(1, 80))))
    text = "\n\n".join(parts)
    limit = rng.choice([60, 200, 2000, 4000])
    chunks = split_markdown(text, limit)
    assert all(0 < len(c) <= limit for c in chunks), [len(c) for c in chunks]
    assert all(balanced(c) for c in chunks)
    assert "".join(words(" ".join(chunks))) == "".join(words(text))


def test_footer_names_models_agents_time_tokens_cost() -> None:
    result = RunResult(
        request_id="r1", question="q", models=["m1", "m2"], elapsed_s=12.34,
        usage=Usage(prompt_tokens=1000, completion_tokens=234, cost_usd=0.0123),
        agents=[AgentSummary(0, "a", "m1", status="ok"), AgentSummary(1, "b", "m2", status="timeout")],
    )
    assert footer(result) == "m1, m2 · 1/2 agents · 12.3s · 1,234 tokens · $0.0123"


@pytest.mark.parametrize(("models", "simulated", "cached", "expected"), [
    (["m1"], False, 0, "m1 · 0/0 agents · 0.0s · 1,234 tokens · $0.0000"),  # a plain run
    (["m1"], False, 800, "m1 · 0/0 agents · 0.0s · 1,234 tokens (800 cached) · $0.0000"),
    # some prompt tokens came from the provider's cache
    (["simulated"], True, 0, "simulated · 0/0 agents · 0.0s · 1,234 tokens · $0.0000"),
    # the simulated model named once, as the model
    (["m1"], True, 0, "m1 · 0/0 agents · 0.0s · 1,234 tokens · $0.0000 · simulated"),
    # a plugin's answer marked simulated under another name: still said
])
def test_footer_says_cached_tokens_and_simulated_once(
    models: list[str], simulated: bool, cached: int, expected: str
) -> None:
    result = RunResult(request_id="r1", question="q", models=models, simulated=simulated,
                       usage=Usage(prompt_tokens=1000, completion_tokens=234,
                                   cached_tokens=cached))
    assert footer(result) == expected


@pytest.mark.parametrize(
    ("turns", "kwargs", "expected"),
    [
        # nothing, or only blanks: no context at all
        ([], {}, None),
        ([("ann", "  "), ("heavy", "")], {}, None),
        # oldest first, one line per turn, whitespace folded
        ([("ann", "Q1\n\nmore"), ("heavy", "A1")], {},
         "Earlier messages in this Slack thread, oldest first:\n[ann] Q1 more\n[heavy] A1"),
        # too many turns: the newest are kept and the cut is said
        ([("u", f"m{i}") for i in range(5)], {"max_messages": 2},
         "Earlier messages in this Slack thread, oldest first (3 older messages left out):\n"
         "[u] m3\n[u] m4"),
        # too many characters: the oldest go first, and that is said too
        ([("ann", "old " * 20), ("heavy", "new")], {"max_chars": 40},
         "Earlier messages in this Slack thread, oldest first (1 older message left out):\n"
         "[heavy] new"),
        # one long turn is shortened, not dropped
        ([("u", "x" * 50)], {"per_message_chars": 10},
         "Earlier messages in this Slack thread, oldest first:\n[u] xxxxxxxxxx [...]"),
    ],
)
def test_transcript(turns: list[tuple[str, str]], kwargs: dict[str, int], expected: str | None) -> None:
    assert transcript(turns, source="Slack thread", **kwargs) == expected


def test_answer_body_and_sources_for_native_rendering() -> None:
    from heavy_engine.core._events import RunResult
    from heavy_engine.core._sources import Source, sources_section
    from heavy_engine.text import answer_body, source_links, sources_text

    sources = [Source("https://a.example/doc", "Doc A"), Source("https://b.example/", "")]
    result = RunResult("r", "q", answer="Body.\n\n_Stopped early._\n\n" + sources_section(sources),
                       sources=sources)
    assert answer_body(result) == "Body.\n\n_Stopped early._"  # the budget note stays
    assert source_links(result) == [("Doc A", "https://a.example/doc"),
                                    ("https://b.example/", "https://b.example/")]
    assert sources_text(result, limit=1) == "1. [Doc A](https://a.example/doc)"
    assert answer_body(RunResult("r", "q", answer="No sources.")) == "No sources."
