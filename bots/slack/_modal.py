"""The `/heavy-config` modal and the text of `/heavy-config show`. Pure functions.

Values use the settings store's flat keys (`model`, `agents`, `agent.2.model`, ...), so the
modal, the CLI and Discord change the same things the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from heavy_engine import MAX_AGENTS, HeavyConfig

from ._markdown import safe_mrkdwn

CALLBACK_ID = "heavy_config"
PROMPT_CHARS = 3000  # Slack's plain_text_input max_length
METADATA_CHARS = 3000  # Slack's private_metadata max_length
_OPTION_TEXT = 75  # Slack's limit for an option's text
SHOWN_CHARS = 200  # a value in `/heavy-config show`
SHOW_LIMIT = 3800  # the whole text, below Slack's ~4,000 (the last line may add 80)
_POLICIES = {"mention": "Answer only when mentioned",
             "follow": "Also answer replies in threads heavy answered in"}


@dataclass(frozen=True, slots=True)
class ModalTarget:
    """Which settings the modal edits, and the version it showed (for conflict checks)."""

    team: str
    channel: str  # "" for the workspace default
    version: int
    origin: str  # the channel the command came from, for the confirmation

    def dump(self) -> str:
        return json.dumps({"t": self.team, "c": self.channel, "v": self.version,
                           "o": self.origin}, separators=(",", ":"))

    @classmethod
    def load(cls, raw: Any) -> ModalTarget | None:
        """The target `dump` wrote, or None for anything else: the metadata comes back from
        the client, and a forged one must be refused, not crash the submission."""
        try:
            data = json.loads(raw) if isinstance(raw, str) and len(raw) <= METADATA_CHARS else None
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        team, channel, version, origin = (data.get(k) for k in ("t", "c", "v", "o"))
        if not (isinstance(team, str) and isinstance(channel, str) and isinstance(origin, str)
                and type(version) is int and 0 <= version < 2**53):
            return None
        return cls(team, channel, version, origin)


def _option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value[:_OPTION_TEXT]}, "value": value}


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "optional": optional,
                             "label": {"type": "plain_text", "text": label},
                             "element": {"action_id": block_id, **element}}
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def agent_models_text(values: Mapping[str, Any]) -> str:
    """`agent.N.model` values as one line per agent, up to the last one set."""
    lines = [str(values.get(f"agent.{i}.model") or "") for i in range(1, MAX_AGENTS + 1)]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def config_modal(config: HeavyConfig, values: Mapping[str, Any], target: ModalTarget,
                 tools: Iterable[str], where: str) -> dict[str, Any]:
    """The modal view, pre-filled with the effective settings of the scope; `where` is our own
    mrkdwn saying which scope it edits."""
    models = list(dict.fromkeys([*config.allowed_models]))
    if models:
        current = str(values.get("model") or config.model)
        options = [_option(m) for m in dict.fromkeys([current, *models])]
        model_el: dict[str, Any] = {"type": "static_select", "options": options[:100],
                                    "initial_option": _option(current)}
    else:
        model_el = {"type": "plain_text_input", "initial_value": str(values.get("model") or "")}
    tool_names = sorted(set(tools))
    selected = [t for t in values.get("tools") or [] if t in tool_names]
    tools_el: dict[str, Any] = {"type": "multi_static_select",
                                "options": [_option(t) for t in tool_names]}
    if selected:
        tools_el["initial_options"] = [_option(t) for t in selected]
    policy = str(values.get("thread_policy") or "mention")
    prompt = str(values.get("system_prompt") or "")[:PROMPT_CHARS]
    blocks = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": where}]},  # our mrkdwn
        _input("model", "Model", model_el),
        _input("agents", "Number of agents", {
            "type": "number_input", "is_decimal_allowed": False, "min_value": "1",
            "max_value": str(MAX_AGENTS), "initial_value": str(values.get("agents") or 4)}),
        _input("agent_models", "Per-agent models", {
            "type": "plain_text_input", "multiline": True,
            "initial_value": agent_models_text(values)}, optional=True,
            hint="One line per agent (line 1 = agent 1); a blank line uses the model above."),
        _input("system_prompt", "System prompt", {
            "type": "plain_text_input", "multiline": True, "max_length": PROMPT_CHARS,
            "initial_value": prompt}, optional=True),
        _input("tools", "Tools", tools_el, optional=True),
        _input("thread_policy", "Threads", {
            "type": "radio_buttons",
            "options": [{"text": {"type": "plain_text", "text": label}, "value": key}
                        for key, label in _POLICIES.items()],
            "initial_option": {"text": {"type": "plain_text", "text": _POLICIES[policy]},
                               "value": policy}}),
        _input("allow_users", "Who may ask", _users_el(values.get("allow_users")),
               optional=True, hint="Only these people may ask heavy here; empty: everyone."),
        _input("block_users", "Who may not ask", _users_el(values.get("block_users")),
               optional=True, hint="These people may not ask heavy here."),
    ]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": target.dump(),
        "title": {"type": "plain_text", "text": "heavy settings"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _users_el(ids: Any) -> dict[str, Any]:
    """A people picker pre-filled with the Slack user ids of an access list (ids written for
    another platform, `discord:…`, are not shown and not touched)."""
    element: dict[str, Any] = {"type": "multi_users_select"}
    users = [i.removeprefix("slack:") for i in ids or [] if ":" not in i.removeprefix("slack:")]
    if users:
        element["initial_users"] = users[:100]
    return element


def _value(state: Mapping[str, Any], block_id: str) -> dict[str, Any]:
    return dict((state.get(block_id) or {}).get(block_id) or {})


def submitted_values(state: Mapping[str, Any]) -> dict[str, Any]:
    """The modal's `view.state.values` as flat keys; None means "left empty"."""
    model = _value(state, "model")
    out: dict[str, Any] = {
        "model": ((model.get("selected_option") or {}).get("value")
                  or (model.get("value") or "").strip() or None),
        "agents": _value(state, "agents").get("value"),
        "system_prompt": (_value(state, "system_prompt").get("value") or "").strip() or None,
        "tools": [o["value"] for o in _value(state, "tools").get("selected_options") or []],
        "thread_policy": (_value(state, "thread_policy").get("selected_option") or {}).get(
            "value"),
    }
    for key in ("allow_users", "block_users"):
        if key in state:  # a modal opened before these fields existed leaves them alone
            out[key] = list(_value(state, key).get("selected_users") or [])
    if isinstance(out["agents"], str) and out["agents"].strip().isdigit():
        out["agents"] = int(out["agents"])
    lines = (_value(state, "agent_models").get("value") or "").split("\n")
    for i in range(1, MAX_AGENTS + 1):
        line = lines[i - 1].strip() if i <= len(lines) else ""
        out[f"agent.{i}.model"] = line or None
    return out


def changes(current: Mapping[str, Any], submitted: Mapping[str, Any]
            ) -> tuple[dict[str, Any], list[str]]:
    """(keys to set, keys to unset) so that only what the user changed is stored here."""
    to_set: dict[str, Any] = {}
    to_unset: list[str] = []
    for key, new in submitted.items():
        old = current.get(key)
        if isinstance(new, list) and isinstance(old, list):  # tool order carries no meaning
            new, old = sorted(new), sorted(old)
        if new == old or (new is None and old in (None, "")):
            continue
        if new is None:
            to_unset.append(key)
        else:
            to_set[key] = new
    return to_set, to_unset


def block_for(key: str) -> str:
    """The modal block to show a refusal of `key` under."""
    return "agent_models" if key.startswith("agent.") else key


def show_text(values: Mapping[str, Any], sources: Mapping[str, str], where: str) -> str:
    """`/heavy-config show`: each effective value and the layer it came from.

    `where` is our own mrkdwn (`<#C123>`, a channel link). Values are shortened, and the text
    stops below Slack's message limit: 16 agents may each hold an 8,000-character prompt.
    """
    lines = [f"*heavy settings for {where}*"]
    size = len(lines[0])
    for n, (key, value) in enumerate(values.items()):
        shown = ", ".join(value) if isinstance(value, list) else value
        text = str(shown if shown is not None else "-")
        if len(text) > SHOWN_CHARS:
            text = text[:SHOWN_CHARS] + "…"
        line = f"• `{key}` = {safe_mrkdwn(text)}  _({sources.get(key, 'default')})_"
        if size + len(line) > SHOW_LIMIT:
            lines.append(f"_… {len(values) - n} more; `heavy config show` lists them all._")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)
