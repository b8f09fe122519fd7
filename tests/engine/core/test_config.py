from pathlib import Path

import pytest

from heavy_engine import (
    ConfigError,
    HeavyConfig,
    apply_env,
    load_config,
    simulated_fallback,
    use_simulated,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        # agents is bounded 1-16
        ("agents: 40", "agents: Input should be less than or equal to 16 (got 40)"),
        # a wrong type names the key
        ("agents: many", "agents: Input should be a valid integer"),
        # nested keys are named with their full path
        ("timeouts:\n  request: -1", "timeouts.request: Input should be greater than 0"),
        # unknown keys are refused, not ignored; a near miss gets the real key
        ("modle: x", "modle: Extra inputs are not permitted (got 'x'); did you mean model?"),
        ("agnets: 3", "agnets: Extra inputs are not permitted (got 3); did you mean agents?"),
        # ... at any depth: a nested model, a provider under its own name, a list item
        ("timeouts:\n  reqest: 3", "timeouts.reqest: Extra inputs are not permitted (got 3); "
         "did you mean request?"),
        ("providers:\n  local:\n    type: openai\n    base_url: http://x\n    max_retrys: 3",
         "providers.local.max_retrys: Extra inputs are not permitted (got 3); did you mean "
         "max_retries?"),
        ("agent_overrides:\n  - {modle: x}", "agent_overrides.0.modle: Extra inputs are not "
         "permitted (got 'x'); did you mean model?"),
        # the default provider must be defined
        ("provider: nope", "provider 'nope' is not defined under providers"),
        # an openai provider needs a base URL
        ("providers:\n  local:\n    type: openai", "providers.local: an openai provider needs base_url"),
        # per-agent overrides are validated too
        ("agent_overrides:\n  - temperature: 9", "agent_overrides.0.temperature: Input should be less than or equal to 2"),
        # tool names may not repeat
        ("tools: [calculate, calculate]", "tools: tool names must be unique"),
        # the top level must be a mapping
        ("- a\n- b", "the top level must be a mapping"),
        # broken YAML is reported as such, at the file's line, not "<unicode string>"
        ("agents: [1", "not valid YAML"),
        ("agents: 3\n  tools: [x", 'in "{path}", line 2, column 8'),
    ],
)
def test_invalid_config_names_key_and_rule(tmp_path: Path, yaml_text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        path = write(tmp_path, yaml_text)
        load_config(path, env={})
    assert expected.format(path=path) in str(err.value)
    assert str(tmp_path) in str(err.value)  # and which file


def test_defaults_without_file(tmp_path: Path) -> None:
    config = load_config(None, env={})
    assert config == HeavyConfig()
    assert config.agents == 4 and config.provider == "openrouter"


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.yaml", env={})


def test_heavy_config_env_selects_file(tmp_path: Path) -> None:
    path = write(tmp_path, "agents: 3")
    assert load_config(None, env={"HEAVY_CONFIG": str(path)}).agents == 3


def test_env_points_default_provider_at_local_server() -> None:
    env = {"HEAVY_LLM_BASE_URL": "http://localhost:11434/v1/", "HEAVY_MODEL": "llama3.1",
           "HEAVY_LLM_API_KEY": "sk-local"}
    config = apply_env(HeavyConfig(orchestrator_model="big/model"), env)
    provider = config.providers[config.provider]
    assert provider.base_url == "http://localhost:11434/v1"
    assert provider.api_key_env == "HEAVY_LLM_API_KEY" and provider.api_key(env) == "sk-local"
    assert provider.headers == {}  # OpenRouter attribution is not sent to other servers
    assert (config.model, config.effective_orchestrator_model) == ("llama3.1", "llama3.1")
    assert simulated_fallback(config, env) is None


def test_bad_env_override_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"environment override: .*base_url must start with http"):
        apply_env(HeavyConfig(), {"HEAVY_LLM_BASE_URL": "localhost:11434"})


def test_missing_key_selects_simulated_fallback() -> None:
    config = HeavyConfig()
    assert simulated_fallback(config, {}) == "OPENROUTER_API_KEY is not set"
    assert simulated_fallback(config, {"OPENROUTER_API_KEY": "k"}) is None
    sim = use_simulated(config)
    assert sim.providers[sim.provider].type == "simulated"


def test_fingerprint_is_stable_and_distinguishes_settings() -> None:
    a, b = HeavyConfig().providers["openrouter"], HeavyConfig().providers["openrouter"]
    assert a.fingerprint() == b.fingerprint()
    other = a.model_copy(update={"max_concurrency": 5})
    assert other.fingerprint() != a.fingerprint()


def test_secrets_are_not_in_the_model() -> None:
    env = {"OPENROUTER_API_KEY": "sk-or-secret"}
    dumped = str(load_config(None, env=env).model_dump())
    assert "sk-or-secret" not in dumped


def test_shipped_config_yaml_is_valid_and_matches_the_built_in_defaults() -> None:
    shipped = load_config(Path(__file__).parents[3] / "config.yaml", env={})
    defaults = HeavyConfig()
    assert shipped.model_dump(exclude={"allowed_models"}) == defaults.model_dump(
        exclude={"allowed_models"}
    )
    assert shipped.model in shipped.allowed_models


def test_provider_type_must_be_registered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "providers:\n  x:\n    type: gpt5-magic\n"), env={})
    assert "providers.x.type: unknown provider type 'gpt5-magic' (known: claude_cli, openai" in str(err.value)


def test_an_unknown_key_far_from_every_real_one_gets_no_guess(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "zzzz: 1"), env={})
    assert str(err.value).endswith("zzzz: Extra inputs are not permitted (got 1)")
