"""Secret redaction, JSON logs carrying job ids, and the Prometheus text format."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

import pytest

from heavy_engine.observability import (
    Metrics,
    MetricSet,
    _redact,
    add_secret,
    configure_logging,
    job_id_var,
    redact,
)
from tests.jobs.conftest import MakeRunner, settle, spec


@pytest.mark.parametrize(("text", "secret"), [
    # Slack bot token inside an error message
    ("auth failed for xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "xoxb-1234567890"),
    # Slack app-level token (Socket Mode)
    ("connecting with xapp-1-A0123456789-1234567890-abcdef0123", "xapp-1-A0123456789"),
    # OpenRouter key
    ("key sk-or-v1-0123456789abcdef0123456789abcdef rejected", "sk-or-v1-0123456789"),
    # OpenAI project key
    ("Incorrect API key provided: sk-proj-AbCdEf0123456789XyZ", "sk-proj-AbCdEf"),
    # Anthropic key
    ("ANTHROPIC said no to sk-ant-api03-abcdefghijklmnop", "sk-ant-api03"),
    # Discord bot token (three dot-separated base64 parts)
    ("login failed: MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789",
     "MTIzNDU2Nzg5MDEyMzQ1Njc4"),
    # an Authorization header echoed in a debug line
    ("headers={'Authorization': 'Bearer abc.def-ghi_jkl0123'}", "abc.def-ghi_jkl0123"),
    # key=value pairs, whatever the key's spelling
    ("retrying with api_key=ABCDEFGH12345 and client_secret: s3cr3tv4lue", "ABCDEFGH12345"),
    ("retrying with api_key=ABCDEFGH12345 and client_secret: s3cr3tv4lue", "s3cr3tv4lue"),
    # the same keys quoted, as in a dict's repr or JSON
    ("payload={'api_key': 'ABCDEFG12345'}", "ABCDEFG12345"),
    ('body {"client_secret": "s3cr3tv4lue", "n": 1}', "s3cr3tv4lue"),
    # a password inside a database URL
    ("cannot connect to postgresql+asyncpg://heavy:hunter2pass@db:5432/heavy", "hunter2pass"),
    # keys spelled with characters IGNORECASE matches but lower() does not fold (long s, Kelvin)
    ("paſſword=hunter2pass", "hunter2pass"),
    ("API_\u212aEY=ABCDEFGH12345", "ABCDEFGH12345"),
    # upper case: the cue check is case-folded too
    ("AUTHORIZATION: BEARER ABCDEFGH12345", "ABCDEFGH12345"),
])
def test_secrets_are_redacted_by_pattern(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert "[REDACTED]" in out


def test_every_pattern_contains_its_cues() -> None:
    # A pattern is skipped for a text without any of its cues: each cue must be fixed text the
    # pattern cannot match without (a new pattern with a wrong cue would silently never run).
    for cues, pattern in _redact._PATTERNS:
        for cue in cues:
            assert cue in pattern.pattern.lower(), (cue, pattern.pattern)


@pytest.mark.parametrize("text", [
    "job 0bda0b62340d4f6f done in 3.2 s",  # job ids are not secrets
    "usage prompt_tokens=1234 completion_tokens=56",  # counts stay readable
    '{"prompt_tokens": 1234, "completion_tokens": 56}',  # quoted counts, too
    "This channel has used its daily budget of 10,000 tokens",
    "GET /api/jobs/{id} 200",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_exact_values_from_the_environment_are_redacted() -> None:
    add_secret("plain-looking-value-42")
    assert redact("token was plain-looking-value-42.") == "token was [REDACTED]."
    add_secret("abc")  # too short to hide without mangling ordinary words
    assert redact("abc") == "abc"


@contextlib.contextmanager
def _logging_to_stream(log_format: str) -> Iterator[io.StringIO]:
    """The root logger configured as the service does, writing to a string; restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(log_format, logging.INFO, stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    with _logging_to_stream("json") as stream:
        yield stream


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_logs_are_redacted_including_tracebacks(log_stream: io.StringIO) -> None:
    log = logging.getLogger("heavy.test")
    token = job_id_var.set("job123")
    try:
        log.info("calling with Bearer sk-or-v1-abcdefabcdefabcdefabcdef", extra={"tries": 2})
        try:
            raise RuntimeError("boom xoxb-1111111111-2222222222-abcdefghijkl")
        except RuntimeError:
            log.exception("failed")
    finally:
        job_id_var.reset(token)
    first, second = _records(log_stream)
    assert first["level"] == "info" and first["logger"] == "heavy.test"
    assert first["job_id"] == "job123" and first["tries"] == 2
    assert "sk-or-v1" not in log_stream.getvalue() and "xoxb-1111" not in log_stream.getvalue()
    assert "RuntimeError" in str(second["exc"])


async def test_logs_made_for_a_job_carry_its_id(
    log_stream: io.StringIO, make_runner: MakeRunner
) -> None:
    runner = await make_runner()
    job = await runner.submit(spec())
    assert job is not None
    await settle(runner)
    mine = [r for r in _records(log_stream) if r.get("job_id") == job.id]
    assert any(r["msg"] == f"job {job.id} done" for r in mine)


def test_text_logs_are_redacted_too() -> None:
    with _logging_to_stream("text") as stream:
        logging.getLogger("heavy.test").warning("token=xoxp-123456789-abcdefghi")
    assert "xoxp" not in stream.getvalue() and "[REDACTED]" in stream.getvalue()


def test_prometheus_text_format() -> None:
    metrics = MetricSet()
    requests = metrics.counter("t_requests_total", "Requests.", ["route"])
    depth = metrics.gauge("t_depth", "Depth.")
    latency = metrics.histogram("t_seconds", "Latency.", ["route"], buckets=(0.1, 1))
    requests.inc(route='/a"b')
    requests.inc(2, route="/c")
    depth.set(3)
    latency.observe(0.05, route="/a")
    latency.observe(0.5, route="/a")
    lines = [ln for ln in metrics.render().splitlines() if "_created" not in ln]
    assert lines == [
        "# HELP t_requests_total Requests.",
        "# TYPE t_requests_total counter",
        't_requests_total{route="/a\\"b"} 1.0',  # quotes in label values are escaped
        't_requests_total{route="/c"} 2.0',
        "# HELP t_depth Depth.",
        "# TYPE t_depth gauge",
        "t_depth 3.0",
        "# HELP t_seconds Latency.",
        "# TYPE t_seconds histogram",
        't_seconds_bucket{le="0.1",route="/a"} 1.0',
        't_seconds_bucket{le="1.0",route="/a"} 2.0',  # buckets are cumulative
        't_seconds_bucket{le="+Inf",route="/a"} 2.0',
        't_seconds_count{route="/a"} 2.0',
        't_seconds_sum{route="/a"} 0.55',
    ]


def test_each_metric_set_has_its_own_registry() -> None:
    # Two services in one process (tests, or an embedding app) never share or clash on names.
    first, second = Metrics(), Metrics()
    first.jobs_submitted.inc(platform="slack")
    assert 'heavy_jobs_submitted_total{platform="slack"} 1.0' in first.render().splitlines()
    assert "heavy_jobs_submitted_total{" not in second.render()


def test_metrics_reject_wrong_labels_and_negative_counts() -> None:
    counter = MetricSet().counter("c_total", "C.", ["a"])
    with pytest.raises(ValueError, match="Incorrect label names"):
        counter.inc(b="x")
    with pytest.raises(ValueError, match="non-negative"):
        counter.inc(-1, a="x")
    with pytest.raises(ValueError, match="missing label values"):
        counter.inc()


def test_metrics_keep_counting_into_one_child_per_label_set() -> None:
    counter = MetricSet().counter("c_total", "C.", ["a", "b"])
    counter.inc(a="x", b="y")
    counter.inc(2, b="y", a="x")  # the same labels in another order
    counter.inc(a="x", b="z")
    with pytest.raises(ValueError, match="Incorrect label names"):
        counter.inc(a="x", c="y")  # a known child does not excuse an unknown label
    assert counter.metric.labels(a="x", b="y")._value.get() == 3
    assert counter.metric.labels(a="x", b="z")._value.get() == 1


def test_json_escaping_does_not_hide_an_exact_secret(log_stream: io.StringIO) -> None:
    add_secret('pa"ss\\word-123')
    logging.getLogger("heavy.test").error('db said: pa"ss\\word-123 is wrong')
    assert "word-123" not in log_stream.getvalue()


def test_serve_hides_the_keys_of_every_configured_provider() -> None:
    # config.yaml names each provider's key variable (`api_key_env`); any name is allowed, so
    # the fixed list of well-known variables is not enough.
    from heavy_engine import HeavyConfig
    from heavy_engine.cli import hide_secrets

    config = HeavyConfig.model_validate({"providers": {
        "openrouter": {"base_url": "https://openrouter.ai/api/v1",
                       "api_key_env": "OPENROUTER_API_KEY"},
        "groq": {"base_url": "https://api.groq.com/openai/v1", "api_key_env": "GROQ_KEY"}}})
    hide_secrets(config, {"GROQ_KEY": "gq-7f3a9c1e5b2d8f40", "OTHER": "not-a-secret-value"})
    assert redact("upstream said: bad key gq-7f3a9c1e5b2d8f40") == (
        "upstream said: bad key [REDACTED]")
    assert redact("not-a-secret-value") == "not-a-secret-value"


def test_a_secret_containing_another_is_hidden_whole() -> None:
    # e.g. a database URL that contains a password also set on its own: replacing the shorter
    # value first would leave the rest of the longer one in the log.
    pairs = [(f"inner-{i:02d}-secret", f"outer-inner-{i:02d}-secret-tail{i:02d}")
             for i in range(20)]
    for inner, outer in pairs:
        add_secret(inner)
        add_secret(outer)
    for i, (_, outer) in enumerate(pairs):
        assert redact(f"value {outer} end") == "value [REDACTED] end", i
