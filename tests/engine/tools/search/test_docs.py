"""The README's search examples and the SearXNG compose file stay paste-able and consistent."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from heavy_engine import validate_config

REPO = Path(__file__).resolve().parents[4]
DEPLOY = REPO / "deploy"


def _section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"### {title}\n")
    ends = [i for i in (text.find("\n## ", start), text.find("\n### ", start + 1)) if i > 0]
    return text[start:min(ends)]


def test_the_readme_search_config_validates() -> None:
    [block] = re.findall(r"```yaml\n(.*?)```", _section("Web search back-ends"), re.S)
    config = validate_config(yaml.safe_load(block))
    assert [e.backend for e in config.search.chain()] == ["searxng", "brave", "duckduckgo"]
    assert config.search.base_url == "http://searxng:8080"


def test_the_searxng_compose_file_is_one_service_with_the_json_api_on() -> None:
    compose = yaml.safe_load((DEPLOY / "searxng.compose.yml").read_text(encoding="utf-8"))
    [(name, service)] = compose["services"].items()
    assert name == "searxng"  # heavy's compose reaches it as http://searxng:8080
    assert service["ports"][0].endswith(":8080")
    assert service["environment"]["SEARXNG_SECRET"].startswith("${SEARXNG_SECRET:?")
    mount = "./searxng-settings.yml:/etc/searxng/settings.yml:ro"
    assert service["volumes"] == [mount]
    settings = yaml.safe_load((DEPLOY / "searxng-settings.yml").read_text(encoding="utf-8"))
    assert settings["use_default_settings"] is True
    assert "json" in settings["search"]["formats"]  # else SearXNG answers 403 to format=json
    assert settings["server"]["limiter"] is False


def test_the_config_line_in_the_compose_file_validates() -> None:
    text = (DEPLOY / "searxng.compose.yml").read_text(encoding="utf-8")
    [line] = re.findall(r"config\.yaml:\s+(search: .*)$", text, re.M)
    config = validate_config(yaml.safe_load(line))
    assert config.search.names() == ["searxng", "duckduckgo"]
    assert "SEARXNG_SECRET=" in (DEPLOY / ".env.example").read_text(encoding="utf-8")


def test_every_code_block_of_the_readme_is_closed() -> None:
    # A fence with an info string (```yaml) cannot close a block: an unclosed ```toml once
    # swallowed the "Tools from MCP servers" heading and its first example.
    text = (REPO / "README.md").read_text(encoding="utf-8")
    fences = re.findall(r"^```(\S*)", text, re.M)
    assert not any(fences[1::2]) and len(fences) % 2 == 0, fences  # each closes bare
