"""The metrics heavy exports at `GET /metrics`; one `Metrics` per server process."""

from __future__ import annotations

from ..core import RunResult
from ._metrics import JOB_BUCKETS, MetricSet

ADAPTER_STATES = ("connecting", "connected", "retrying", "off")


class Metrics:
    def __init__(self) -> None:
        r = self.metrics = MetricSet()
        self.registry = r.registry  # a prometheus_client CollectorRegistry of our own
        self.http_requests = r.counter(
            "heavy_http_requests_total", "HTTP requests served.", ["method", "route", "status"])
        self.http_latency = r.histogram(
            "heavy_http_request_duration_seconds", "HTTP request latency.", ["route"])
        self.jobs_submitted = r.counter(
            "heavy_jobs_submitted_total", "Jobs accepted into the queue.", ["platform"])
        self.jobs_rejected = r.counter(
            "heavy_jobs_rejected_total", "Requests refused by a limit or budget.",
            ["platform", "reason"])
        self.jobs_finished = r.counter(
            "heavy_jobs_finished_total", "Jobs that reached a final status.",
            ["platform", "status"])
        self.jobs_recovered = r.counter(
            "heavy_jobs_recovered_total", "Jobs picked up again after a restart.")
        self.jobs = r.gauge("heavy_jobs", "Jobs queued or running now.", ["status"])
        self.queue_depth = r.gauge("heavy_queue_depth", "Jobs waiting for a slot.")
        self.llm_calls = r.counter("heavy_llm_calls_total", "LLM calls made.", ["model"])
        self.tokens = r.counter(
            "heavy_llm_tokens_total", "Tokens reported by providers.", ["model", "kind"])
        self.cost = r.counter("heavy_llm_cost_usd_total", "Cost reported by providers.")
        self.feedback = r.counter(
            "heavy_feedback_total", "Answers rated by users.", ["platform", "value"])
        self.job_duration = r.histogram(
            "heavy_job_duration_seconds", "Run time of finished jobs.", ["platform"],
            JOB_BUCKETS)
        self.mcp_up = r.gauge(
            "heavy_mcp_server_up", "MCP server state: 1 up, 0 down (absent until first needed).",
            ["server"])
        self.queue_wait = r.histogram(
            "heavy_job_queue_wait_seconds", "Time from submission to start.", ["platform"],
            JOB_BUCKETS)
        self.adapter_state = r.gauge(
            "heavy_adapter_state", "A chat adapter's connection state: 1 on the current one.",
            ["adapter", "state"])
        self.adapters: dict[str, tuple[str, str]] = {}  # name -> (state, detail), for /healthz

    def set_adapter_state(self, adapter: str, state: str, detail: str = "") -> None:
        """What an adapter's connection is doing (one of ADAPTER_STATES), and why."""
        assert state in ADAPTER_STATES, state
        self.adapters[adapter] = (state, detail)
        for each in ADAPTER_STATES:
            self.adapter_state.set(1.0 if each == state else 0.0, adapter=adapter, state=each)

    def set_active(self, queued: int, running: int) -> None:
        self.jobs.set(queued, status="queued")
        self.jobs.set(running, status="running")
        self.queue_depth.set(queued)

    def record_usage(self, result: RunResult, orchestrator_model: str) -> None:
        """LLM calls, tokens by model (orchestrator calls under its model), cost."""
        agents_prompt = agents_completion = agents_calls = 0
        for a in result.agents:
            self._usage(a.model, a.usage.prompt_tokens, a.usage.completion_tokens, a.usage.calls)
            agents_prompt += a.usage.prompt_tokens
            agents_completion += a.usage.completion_tokens
            agents_calls += a.usage.calls
        rest_calls = max(result.llm_calls - agents_calls, 0)
        self._usage(orchestrator_model, max(result.usage.prompt_tokens - agents_prompt, 0),
                    max(result.usage.completion_tokens - agents_completion, 0), rest_calls)
        if result.usage.cost_usd > 0:
            self.cost.inc(result.usage.cost_usd)

    def _usage(self, model: str, prompt: int, completion: int, calls: int) -> None:
        if calls:
            self.llm_calls.inc(calls, model=model)
        if prompt:
            self.tokens.inc(prompt, model=model, kind="prompt")
        if completion:
            self.tokens.inc(completion, model=model, kind="completion")

    def render(self) -> str:
        return self.metrics.render()
