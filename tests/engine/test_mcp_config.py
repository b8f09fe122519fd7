"""`mcp_servers` in config.yaml, and `mcp__...` names in tools, allowed_tools and channel settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from heavy_engine import ConfigError, HeavyConfig, load_config, validate_config
from heavy_engine.settings import SettingsRefused, check_value

SERVERS: dict[str, Any] = {
    "tickets": {"command": ["tickets-mcp", "--readonly"], "env": {"TICKETS_TOKEN": "TICKETS_TOKEN"},
                "timeout": 30},
    "docs": {"url": "https://mcp.internal.example/mcp",
             "headers_env": {"Authorization": "DOCS_MCP_AUTH"}},
}


def test_the_readme_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Tools from MCP servers", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "config.yaml").write_text(example)
    config = load_config(tmp_path / "config.yaml", env={})
    assert config.mcp_servers["git"].transport == "stdio"
    assert config.mcp_servers["tickets"].secret_names() == ["TICKETS_TOKEN"]
    assert config.mcp_servers["docs"].secret_names() == ["DOCS_MCP_AUTH"]
    assert "mcp__git__git_log" in config.tools and "mcp__docs" in config.tools
    # the channel example is allowed
    check_value(config, "tools", "calculate,mcp__git__git_diff,mcp__tickets__get_ticket", [
        "calculate"])


@pytest.mark.parametrize(("data", "message"), [
    # the name rule
    ({"mcp_servers": {"Tickets": {"command": ["x"]}}},
     "mcp_servers: server name 'Tickets' must match [a-z0-9_-]{1,32}"),
    ({"mcp_servers": {"t" * 33: {"command": ["x"]}}}, "must match [a-z0-9_-]{1,32}"),
    # exactly one transport
    ({"mcp_servers": {"t": {"command": ["x"], "url": "https://a.example/mcp"}}},
     "mcp_servers.t: give either command (a stdio server) or url (streamable HTTP)"),
    ({"mcp_servers": {"t": {}}}, "mcp_servers.t: give either command"),
    ({"mcp_servers": {"t": {"url": "ftp://a.example/mcp"}}},
     "mcp_servers.t: url must start with http:// or https://"),
    ({"mcp_servers": {"t": {"command": ["x"], "headers_env": {"A": "B"}}}},
     "mcp_servers.t: headers_env is for HTTP servers (url), not command"),
    ({"mcp_servers": {"t": {"url": "https://a.example/mcp", "env": {"A": "B"}}}},
     "mcp_servers.t: env and cwd are for stdio servers"),
    ({"mcp_servers": {"t": {"url": "https://a.example/mcp", "headers_env": {"Bad Header": "B"}}}},
     "'Bad Header' is not an HTTP header name"),
    ({"mcp_servers": {"t": {"command": [""]}}}, "mcp_servers.t.command: the command's first word"),
    ({"mcp_servers": {"t": {"command": ["x"], "timeout": 0}}},
     "mcp_servers.t.timeout: Input should be greater than 0"),
    ({"mcp_servers": {"t": {"command": ["x"], "tokn": "y"}}},
     "mcp_servers.t.tokn: Extra inputs are not permitted"),
    # tools must name a configured server
    ({"mcp_servers": {"t": {"command": ["x"]}}, "tools": ["mcp__u"]},
     "tools: 'mcp__u' names no server under mcp_servers"),
    ({"allowed_tools": ["mcp__t__echo"]}, "allowed_tools: 'mcp__t__echo' names no server"),
    ({"mcp_servers": {"t": {"command": ["x"]}}, "agent_overrides": [{"tools": ["mcp__u__x"]}]},
     "agent_overrides.0.tools: 'mcp__u__x' names no server under mcp_servers"),
])
def test_bad_entries_name_the_key_and_the_rule(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    assert message in str(err.value)


def test_a_secret_written_in_place_of_a_name_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as err:
        validate_config({"mcp_servers": {"t": {"command": ["x"],
                                               "env": {"TOKEN": "ghp_s3cr3t-value"}}}})
    assert "mcp_servers.t.env: TOKEN: the value must be the NAME" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def base(**over: Any) -> HeavyConfig:
    return validate_config({"mcp_servers": SERVERS, "tools": ["calculate", "mcp__docs"], **over})


@pytest.mark.parametrize(("allowed", "value", "refusal"), [
    # allowed_tools lists a whole server: each of its tools, and the server, may be picked
    (["calculate", "mcp__tickets"], "mcp__tickets__search,calculate", None),
    (["calculate", "mcp__tickets"], "mcp__tickets", None),
    # one tool allowed does not open its whole server, nor its siblings
    (["mcp__tickets__search"], "mcp__tickets__search", None),
    (["mcp__tickets__search"], "mcp__tickets", "'mcp__tickets' not allowed here"),
    (["mcp__tickets__search"], "mcp__tickets__delete", "'mcp__tickets__delete' not allowed"),
    # no allowed_tools: the operator's own tools (here the docs server) are the choice
    ([], "mcp__docs__search", None),
    ([], "mcp__tickets__search", "not allowed here"),
    # a server the operator did not configure
    (["mcp__tickets"], "mcp__wiki", "'mcp__wiki' names no server under mcp_servers"),
])
def test_channel_admins_pick_only_what_allowed_tools_allows(
    allowed: list[str], value: str, refusal: str | None
) -> None:
    config = base(allowed_tools=allowed)
    known = ["calculate", "web_search"]
    if refusal is None:
        assert check_value(config, "tools", value, known) == ("tools", value.split(","))
    else:
        with pytest.raises(SettingsRefused) as err:
            check_value(config, "tools", value, known)
        assert refusal in str(err.value)


def test_split_names_prefer_the_longest_server() -> None:
    from heavy_engine.core._mcp_config import split_name

    servers = ["a", "a__b"]
    assert split_name("mcp__a__b__c", servers) == ("a__b", "c")
    assert split_name("mcp__a__x", servers) == ("a", "x")
    assert split_name("mcp__a", servers) == ("a", None)
    assert split_name("mcp__a__", servers) is None
    assert split_name("calculate", servers) is None
