"""`heavy eval`: run a question set under several set-ups side by side and score them.

Each set-up is a set of config overrides (1 agent; N agents; N agents with rounds=2). Every
question runs once per set-up through the real engine; only `web_search` and `fetch_url` are
swapped for the corpus when there is one (a tool registry seam: no network is opened).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..core import Engine, HeavyConfig, HeavyRequest, RunResult
from ..tools import ToolRegistry, default_registry
from ._corpus import Corpus, corpus_tools
from ._score import exact_match, normalised_match, source_hits


@dataclass(slots=True, frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    gold: tuple[str, ...] = ()  # document ids or URLs


@dataclass(slots=True, frozen=True)
class Setup:
    name: str
    overrides: dict[str, Any]


@dataclass(slots=True)
class SetupReport:
    setup: Setup
    questions: int = 0
    correct: int = 0
    exact: int = 0
    failed: int = 0
    source_hits: int = 0
    sources: int = 0
    llm_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0  # summed over questions
    wall_s: float = 0.0  # the set-up as a whole
    simulated: bool = False  # the simulated model answered: the figures measure the plumbing
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.questions if self.questions else 0.0

    @property
    def source_precision(self) -> float | None:
        return self.source_hits / self.sources if self.sources else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "setup": self.setup.name, "questions": self.questions, "accuracy": self.accuracy,
            "exact": self.exact, "correct": self.correct, "failed": self.failed,
            "source_precision": self.source_precision, "llm_calls": self.llm_calls,
            "tokens": self.tokens, "cost_usd": round(self.cost_usd, 6),
            "seconds_per_question": self.seconds / self.questions if self.questions else 0.0,
            "wall_s": self.wall_s, "simulated": self.simulated, "rows": self.rows,
        }


PLUMBING_NOTE = ("simulated model: these figures measure heavy's plumbing (decomposition, tools, "
                 "synthesis, scoring), not a model's quality")


def is_correct(q: EvalQuestion, result: RunResult) -> bool:
    """The scoring rule: the run answered and the answer holds one of the accepted answers."""
    return result.status == "ok" and normalised_match(result.answer, q.answers)


def question_line(setup: Setup, done: int, total: int, q: EvalQuestion,
                  result: RunResult) -> str:
    """One line per finished question, for output that is not a terminal (no live bar there)."""
    verdict = ("correct" if is_correct(q, result) else
               "wrong" if result.status == "ok" else result.status)
    return (f"[{setup.name}] {done}/{total} {q.id} {verdict} · {result.elapsed_s:.1f}s · "
            f"{result.llm_calls} LLM calls")


def default_setups(agents: int) -> list[Setup]:
    return [
        Setup("1 agent", {"agents": 1}),
        Setup(f"{agents} agents", {"agents": agents}),
        Setup(f"{agents} agents, rounds=2", {"agents": agents, "rounds": 2}),
    ]


def load_questions(path: Path) -> list[EvalQuestion]:
    """JSONL: `{"question", "answers": [...] (or "answer"), "gold": [ids or URLs], "id"}`."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            answers = data.get("answers") or [data["answer"]]
            if isinstance(answers, str):
                answers = [answers]
            out.append(EvalQuestion(str(data.get("id") or f"q{n}"), str(data["question"]),
                                    tuple(str(a) for a in answers),
                                    tuple(str(g) for g in data.get("gold") or ())))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}:{n}: expected an object with question and answers "
                             f"({err})") from None
    if not out:
        raise ValueError(f"{path}: no questions")
    return out


def shipped() -> tuple[list[EvalQuestion], Corpus]:
    """The shipped set: 30 questions about a fictional province, and its 30 documents."""
    data = resources.files("heavy_engine.eval") / "data"
    with resources.as_file(data / "questions.jsonl") as q, resources.as_file(
            data / "corpus.jsonl") as c:
        return load_questions(Path(q)), Corpus.load(Path(c))


async def run_eval(
    config: HeavyConfig,
    questions: list[EvalQuestion],
    setups: list[Setup],
    *,
    corpus: Corpus | None = None,
    tools: ToolRegistry | None = None,
    concurrency: int = 4,
    on_done: Callable[[Setup, EvalQuestion, RunResult], None] | None = None,
    on_setup: Callable[[Setup], None] | None = None,
) -> list[SetupReport]:
    """Every question under every set-up, `concurrency` questions at a time; `on_setup` runs
    as a set-up starts, `on_done` as each of its questions ends (after it is scored)."""
    registry = tools if tools is not None else default_registry()
    if corpus is not None:
        registry = corpus_tools(corpus, registry)
    reports = []
    gate = asyncio.Semaphore(concurrency)
    async with Engine(config, tools=registry) as engine:

        async def one(setup: Setup, cfg: HeavyConfig, report: SetupReport,
                      q: EvalQuestion) -> None:
            async with gate:
                result = await engine.run(HeavyRequest(q.question, cfg))
            _score_into(report, q, result, corpus)
            if on_done is not None:
                on_done(setup, q, result)

        for setup in setups:
            if on_setup is not None:
                on_setup(setup)
            cfg = config.with_overrides(setup.overrides)
            report = SetupReport(setup)
            started = time.monotonic()
            await asyncio.gather(*(one(setup, cfg, report, q) for q in questions))
            report.wall_s = time.monotonic() - started
            report.rows.sort(key=lambda r: str(r["id"]))
            reports.append(report)
    return reports


def _score_into(report: SetupReport, q: EvalQuestion, result: RunResult,
                corpus: Corpus | None) -> None:
    ok = result.status == "ok"
    correct = is_correct(q, result)
    exact = ok and exact_match(result.answer, q.answers)
    gold = [corpus.url_of(g) if corpus else g for g in q.gold]
    hits, listed = source_hits([s.url for s in result.sources], gold) if gold else (0, 0)
    report.questions += 1
    report.correct += correct
    report.exact += exact
    report.failed += not ok
    report.source_hits += hits
    report.sources += listed
    report.llm_calls += result.llm_calls
    report.tokens += result.usage.total_tokens
    report.cost_usd += result.usage.cost_usd
    report.seconds += result.elapsed_s
    report.simulated = report.simulated or result.simulated
    report.rows.append({"id": q.id, "status": result.status, "correct": correct,
                        "exact": exact, "source_hits": hits, "sources": listed,
                        "llm_calls": result.llm_calls})
