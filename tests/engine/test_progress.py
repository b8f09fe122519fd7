from heavy_engine import (
    Accepted,
    AgentFinished,
    AgentStarted,
    Done,
    QuestionsReady,
    RunResult,
    SynthesisDelta,
    SynthesisStarted,
    ToolCalled,
    ToolFinished,
)
from heavy_engine.progress import ProgressState


def test_events_fold_into_state() -> None:
    s = ProgressState(started_at=0.0)
    s.apply(Accepted(request_id="r", question="Q?", agents=2), now=0.0)
    assert (s.phase, s.question) == ("decomposing", "Q?")
    s.apply(QuestionsReady(questions=("a", "b")), now=1.0)
    assert s.phase == "researching" and [a.status for a in s.agents.values()] == ["waiting"] * 2
    s.apply(AgentStarted(index=0, question="a", model="m"), now=1.0)
    s.apply(ToolCalled(index=0, tool="calculate", arguments='{"expression": "1+1"}'), now=1.5)
    assert s.agents[0].tool == "calculate" and s.agents[0].elapsed(3.0) == 2.0
    s.apply(ToolFinished(index=0, tool="calculate", ok=True, elapsed_s=0.1), now=1.6)
    assert s.agents[0].tool is None and s.agents[0].tools_used == 1
    s.apply(AgentFinished(index=0, status="ok", iterations=2, elapsed_s=1.2,
                          prompt_tokens=10, completion_tokens=5), now=2.2)
    s.apply(AgentFinished(index=1, status="timeout", iterations=1, elapsed_s=9.0,
                          error="timed out"), now=10.0)
    assert s.finished_agents == 2 and s.agents[0].tokens == 15 and s.agents[1].error == "timed out"
    s.apply(SynthesisStarted(survivors=1), now=10.0)
    s.apply(SynthesisDelta(text="Hel"), now=10.1)
    s.apply(SynthesisDelta(text="lo"), now=10.2)
    assert (s.phase, s.synthesis) == ("synthesising", "Hello")
    result = RunResult(request_id="r", question="Q?", answer="Hello")
    s.apply(Done(result=result), now=11.0)
    assert s.phase == "done" and s.result is result and s.version == 11


def test_concurrent_tools_keep_the_still_running_one_visible() -> None:
    s = ProgressState(started_at=0.0)
    s.apply(QuestionsReady(questions=("a",)), now=0.0)
    s.apply(AgentStarted(index=0, question="a", model="m"), now=0.0)
    s.apply(ToolCalled(index=0, tool="web_search", arguments="{}"), now=0.1)
    s.apply(ToolCalled(index=0, tool="fetch_url", arguments="{}"), now=0.1)
    s.apply(ToolFinished(index=0, tool="fetch_url", ok=True, elapsed_s=0.1), now=0.2)
    assert s.agents[0].tool == "web_search"  # still running
    s.apply(ToolFinished(index=0, tool="web_search", ok=True, elapsed_s=0.3), now=0.4)
    assert s.agents[0].tool is None and s.agents[0].tools_used == 2


def test_compare_notes_phase() -> None:
    from heavy_engine.core._events import AgentFinished, AgentRevised, NotesCompared, QuestionsReady
    from heavy_engine.progress import ProgressState

    state = ProgressState()
    state.apply(QuestionsReady(questions=("a", "b")), now=0)
    for i in (0, 1):
        state.apply(AgentFinished(index=i, status="ok", iterations=1, elapsed_s=1), now=1)
    state.apply(NotesCompared(agents=2), now=1)
    assert state.phase == "comparing" and state.phase_label == "Comparing notes (2 agents revising)"
    state.apply(AgentRevised(index=0, ok=True, elapsed_s=0.5), now=2)
    assert state.agents[0].revised and state.phase_label == "Comparing notes (1 agent revising)"


def test_every_event_is_a_plain_dict_on_the_wire() -> None:
    """`Event.as_dict` copies field by field; it must say what `dataclasses.asdict` would."""
    import dataclasses

    from heavy_engine.core import _events
    from heavy_engine.core._sources import Source

    @dataclasses.dataclass(slots=True, frozen=True)
    class Nested(_events.Event):  # not a real event: a field that is not a plain value
        type = "nested"
        sources: tuple[Source, ...]

    samples: list[_events.Event] = [
        Accepted("r", "Q?", 4), QuestionsReady(("a", "b"), fallback=True),
        AgentStarted(0, "a", "m"), ToolCalled(0, "calculate", "1+1"),
        ToolFinished(0, "calculate", True, 0.1, "2"),
        AgentFinished(0, "failed", 2, 0.5, 10, 5, "boom", "first line"),
        _events.NotesCompared(3), _events.AgentRevised(1, True, 0.2),
        SynthesisStarted(3), SynthesisDelta("text"),
        Nested((Source(url="https://example.com", title="Example"),)),
    ]
    covered = {type(e) for e in samples}
    every = {cls for cls in vars(_events).values() if isinstance(cls, type)
             and issubclass(cls, _events.Event) and cls not in (_events.Event, Done)}
    assert every <= covered  # a new event type gets a sample here
    for event in samples:
        assert event.as_dict() == {"type": event.type, **dataclasses.asdict(event)}
