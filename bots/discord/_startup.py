"""Connecting to Discord at start-up without a wall of tracebacks.

A failure is one line naming its cause. An unreachable Discord (or proxy) is retried with
back-off; a refused token or a missing privileged intent is not (retrying cannot fix it), and
the line says so. Each step is reported to the service's metrics, which `/healthz` and
`/metrics` show (`heavy_adapter_state{adapter="discord"}`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import discord
from discord.utils import MISSING

log = logging.getLogger("heavy.discord")

RETRY_FIRST_S = 2.0
RETRY_MOST_S = 120.0
_BAD_TOKEN = ("Discord refused DISCORD_TOKEN (wrong, reset or revoked); not retrying: set a "
              "valid token and restart")
_NO_INTENT = ("the Message Content intent is not enabled for the bot (developer portal: Bot > "
              "Privileged Gateway Intents); not retrying: enable it and restart")
Report = Callable[[str, str], None]  # (state, detail)


def silence_voice() -> None:
    """discord.py warns at every client it builds that voice libraries are missing: heavy uses
    no voice."""
    discord.VoiceClient.warn_nacl = False
    if hasattr(discord.VoiceClient, "warn_dave"):
        discord.VoiceClient.warn_dave = False


def cause(err: BaseException) -> str:
    """`ClientConnectorError: Cannot connect to host ...`: the first line, bounded."""
    text = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class OneLineReconnects(logging.Filter):
    """discord.py logs every gateway reconnect attempt with a full traceback; keep the line and
    name the cause on it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith("Attempting a reconnect"):
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({cause(error) if error else 'unknown'})"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


_FILTER = OneLineReconnects()


async def connect(client: discord.Client, token: str, report: Report, *, gateway: bool,
                  first: float = RETRY_FIRST_S, most: float = RETRY_MOST_S) -> None:
    """Log in (and with `gateway`, stay connected) until stopped, retrying what may pass."""
    logging.getLogger("discord.client").addFilter(_FILTER)
    logging.getLogger("discord.shard").addFilter(_FILTER)
    delay = first
    while True:
        report("connecting", "")
        try:
            await client.login(token)
            if not gateway:
                report("connected", "REST only (deliveries)")
                return
            await client.connect(reconnect=True)
            return
        except discord.LoginFailure:
            return _off(report, _BAD_TOKEN)
        except discord.PrivilegedIntentsRequired:
            return _off(report, _NO_INTENT)
        except discord.ConnectionClosed as err:
            if err.code == 4004:  # the gateway's "authentication failed"
                return _off(report, _BAD_TOKEN)
            if client.is_closed():  # discord.py closed the client: it cannot connect again
                return _off(report, f"the gateway closed the connection ({cause(err)}); "
                                    "not retrying: see the code in Discord's documentation")
            detail = f"the gateway closed the connection ({cause(err)})"
        except Exception as err:
            detail = f"cannot reach Discord ({cause(err)})"
        log.warning("%s; retrying in %g s", detail, delay)
        report("retrying", f"{detail}; retrying in {delay:g} s")
        await client.http.close()  # a fresh session next time (login makes a new one)
        client.http.connector = MISSING
        await asyncio.sleep(delay)
        delay = min(delay * 2, most)


def _off(report: Report, detail: str) -> None:
    log.error("%s", detail)
    report("off", detail)
