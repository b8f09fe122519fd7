"""A chat adapter for subprocess tests, installed as a `heavy.adapters` plugin distribution.

`POST /rec/ask` submits a job on platform "rec"; its delivery appends `posted <job id>` to
`$REC_LOG` once per job, using `job.reply` so a job resumed after a restart is not posted twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from heavy_engine import Run
from heavy_engine.jobs import Job, JobSpec, Services


class RecordingAdapter:
    name = "rec"

    def __init__(self, services: Services, log: Path) -> None:
        self.services = services
        self.log = log

    def routes(self) -> list[Any]:
        return [web.post("/rec/ask", self.ask)]

    async def ask(self, request: web.Request) -> web.Response:
        body = await request.json()
        job = await self.services.runner.submit(JobSpec(
            platform="rec", workspace="W", channel="C", user="U", question=body["question"],
            dedup_key=body.get("event_id")))
        return web.json_response({"id": job.id if job else None})

    async def start(self) -> None:
        self.services.runner.register_delivery("rec", self)

    async def start_deliveries(self) -> None:
        self.services.runner.register_delivery("rec", self)

    async def stop(self) -> None:
        with self.log.open("a") as f:
            f.write("stopped\n")

    async def deliver(self, job: Job, run: Run) -> None:
        async for event in run.stream():
            if event.type == "done" and not job.reply.get("posted"):
                with self.log.open("a") as f:
                    f.write(f"posted {job.id}\n")
                job.reply["posted"] = True
                await self.services.runner.save_reply(job)


def create_adapter(services: Services) -> RecordingAdapter | None:
    log = services.env.get("REC_LOG")
    return RecordingAdapter(services, Path(log)) if log else None


