"""Ask the configured back-ends in order until one answers.

A back-end that fails (throttled, 5xx, a challenge page, a timeout, no key, a broken plugin)
costs one warning and the next one is asked; the answer names the back-end that answered and
those that failed before it, so the model (and whoever reads the run) knows where results came
from. Each back-end gets `timeout` seconds in all, so a slow drip cannot eat the tool's time.
One that throttled us rests a while (`_cooldown.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ...core import SearchBackendConfig
from ...plugins import PluginRegistry
from .._base import ToolFailed
from ._backend import BackendFailed, SearchBackend, SearchResult
from ._cooldown import Cooldowns
from ._http import new_client, tls_context

log = logging.getLogger("heavy.tools.search")
_UNLOADABLE: set[str] = set()  # back-ends whose plugin failed to load, already logged


@dataclass(slots=True)
class SearchAnswer:
    backend: str  # the one that answered
    results: list[SearchResult]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (back-end, why), in order


def build_backend(
    plugins: PluginRegistry, entry: SearchBackendConfig, env: Mapping[str, str]
) -> SearchBackend:
    """The back-end `entry` names, from its `heavy.search` factory."""
    try:
        factory = plugins.load("search", entry.backend)
    except Exception as err:  # not registered any more, or its module does not import
        # The reason is the operator's (a module path and an import error, never the call's
        # key), logged once per back-end; the model and the user get the short sentence.
        if entry.backend not in _UNLOADABLE:
            _UNLOADABLE.add(entry.backend)
            log.error("search back-end %r is not usable: %s", entry.backend, err)
        raise BackendFailed("its plugin could not be loaded") from None
    backend = factory(entry, env)
    if not isinstance(backend, SearchBackend):
        raise BackendFailed("its plugin did not build a SearchBackend")
    return backend


async def search_in_order(
    chain: Sequence[SearchBackendConfig],
    query: str,
    limit: int,
    *,
    timeout: float,  # noqa: ASYNC109 - per back-end, inside the tool's own deadline
    plugins: PluginRegistry,
    env: Mapping[str, str],
    request_id: str = "",
    cooldowns: Cooldowns | None = None,
) -> SearchAnswer:
    """The first answer of `chain`; `ToolFailed` listing every failure when none answers.
    Back-ends resting in `cooldowns` are skipped (they were warned about when they began)."""
    failed: list[tuple[str, str]] = []
    async with new_client(timeout, await tls_context()) as client:
        for i, entry in enumerate(chain):
            if cooldowns is not None and (left := cooldowns.left(entry)):
                failed.append((entry.backend, f"throttled earlier, resting {left:.0f} s more"))
                continue
            try:
                async with asyncio.timeout(timeout):
                    backend = build_backend(plugins, entry, env)
                    results = await backend.search(client, query, limit)
            except BackendFailed as err:
                why = str(err)
                if err.rest_s is not None and cooldowns is not None:
                    cooldowns.rest(entry, err.rest_s)
                    why += f"; resting {err.rest_s:.0f} s"
            except TimeoutError:
                why = f"timed out after {timeout:g} s"
            except Exception as err:  # a buggy plugin; its message might quote its key
                why = f"crashed: {type(err).__name__}"
            else:
                return SearchAnswer(entry.backend, results, failed)
            failed.append((entry.backend, why))
            after = f"asking {chain[i + 1].backend}" if i + 1 < len(chain) else "none left"
            log.warning("web_search (request %s): %s failed (%s); %s",
                        request_id or "-", entry.backend, why, after)
    raise ToolFailed("web search failed: " + "; ".join(f"{n}: {why}" for n, why in failed))
