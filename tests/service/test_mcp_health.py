"""MCP servers in `/healthz` details and the `heavy_mcp_server_up` metric: a down server shows,
and fails no probe (the service still answers with its other tools)."""

from __future__ import annotations

import pytest

from heavy_engine.testing import FakeLLM, fake_config
from tests.jobs.conftest import MakeClient

from ..engine.tools.mcp.conftest import stdio


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_healthz_and_metrics_show_each_server(
    make_client: MakeClient, fake: FakeLLM,
) -> None:
    base = fake_config(fake.base_url, agents=1, tools=["calculate", "mcp__ok", "mcp__gone"],
                       mcp_servers={"ok": stdio(), "gone": stdio("exit"), "idle": stdio()},
                       timeouts={"request": 60})
    client, runner = await make_client(base=base)
    body = await (await client.get("/healthz")).json()
    assert body["mcp"] == {name: {"state": "idle", "transport": "stdio", "tools": 0,
                                  "restarts": 0} for name in ("ok", "gone", "idle")}
    assert "heavy_mcp_server_up{" not in await (await client.get("/metrics")).text()

    await runner.engine.mcp.select(base.tools)  # what a run does before its agents start
    response = await client.get("/healthz")
    assert response.status == 200
    mcp = (await response.json())["mcp"]
    assert mcp["ok"] == {"state": "up", "transport": "stdio", "tools": 10, "restarts": 0}
    assert mcp["gone"]["state"] == "down"
    assert mcp["gone"]["reason"].startswith("the server exited or closed the connection")
    assert "detail" not in mcp["gone"]  # its stderr is for `heavy tools`, not the probe
    assert mcp["idle"]["state"] == "idle"
    metrics = await (await client.get("/metrics")).text()
    assert 'heavy_mcp_server_up{server="ok"} 1.0' in metrics
    assert 'heavy_mcp_server_up{server="gone"} 0.0' in metrics
    assert 'server="idle"' not in metrics
