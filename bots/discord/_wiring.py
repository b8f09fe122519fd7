"""The Discord adapter: gateway connection, `/heavy`, @-mentions, Stop and `/heavy-config`.

It only translates: interactions and messages become `Question`s, asked through the engine's
reply pipeline, whose `DiscordSurface` turns the run's events back into Discord messages. Order of checks for a
message: ignore bots (including itself), then decide whether it is addressed to the bot
(DM, mention, or a reply in its own thread when the channel follows threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from typing import Any

import discord
import yarl
from discord.app_commands import CommandNotFound, CommandSignatureMismatch, TransformerError

from heavy_engine import HeavyConfig, RequestRejected
from heavy_engine.attachments import Attachment, discord_policy
from heavy_engine.conversations import Action
from heavy_engine.delivery import ContextReader, Question, ReplyPipeline, StopOutcome, shorten
from heavy_engine.jobs import Job, Services
from heavy_engine.settings import Scope

from ._commands import build_tree
from ._context import DiscordHistory
from ._env import DiscordOptions
from ._followups import answer_views, follow_up_button
from ._guard import MALFORMED, guard_parsers
from ._intake import ButtonAsking, MessageAsking, SlashAsking
from ._render import NO_MENTIONS, strip_bot_mention
from ._reply import DiscordReply
from ._settings import PLATFORM, ConfigCommands, policy
from ._startup import connect, silence_voice
from ._stop import stop_button, stop_views
from ._surface import ChannelPacer, DiscordSurface

log = logging.getLogger("heavy.discord")

# Errors a malformed or out-of-date command causes before any of our code runs.
_NOT_OURS = (CommandNotFound, CommandSignatureMismatch, TransformerError)
STOP_ACK_WITHIN = 2.0  # seconds a Stop press waits for the cancel before deferring
_STOP_SAYS: dict[StopOutcome, str] = {
    "stopped": "Stopping…",
    "over": "This run has already finished.",
    "not_here": "This Stop button is not for a run in this channel: nothing was stopped.",
    "not_allowed": "Only the person who asked, or someone who can manage this channel, can "
                   "stop this run.",
}


def intents() -> discord.Intents:
    """Guilds, guild messages, DMs, and Message Content (privileged) for follow-ups."""
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.guild_messages = True
    chosen.dm_messages = True
    chosen.message_content = True
    return chosen


class _HeavyClientMixin:
    """Hooks shared by the plain and the auto-sharded client; the adapter comes in through
    the constructor."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        self._adapter = adapter
        super().__init__(**options)

    async def setup_hook(self) -> None:
        await self._adapter.setup()

    async def on_ready(self) -> None:
        self._adapter.ready.set()
        self._adapter.report("connected", "")

    async def on_resumed(self) -> None:
        self._adapter.report("connected", "")

    async def on_disconnect(self) -> None:
        self._adapter.report("retrying", "the gateway connection dropped; reconnecting")

    async def on_message(self, message: discord.Message) -> None:
        await self._adapter.on_message(message)


class HeavyClient(_HeavyClientMixin, discord.Client):
    pass


class HeavyShardedClient(_HeavyClientMixin, discord.AutoShardedClient):
    pass


class DiscordAdapter:
    name = "discord"

    def __init__(
        self, services: Services, options: DiscordOptions, *, guild_ready_timeout: float = 2.0,
        refresh: float = 10.0,
    ) -> None:
        self.services = services
        self.options = options
        self.ready = asyncio.Event()
        silence_voice()
        cls = HeavyShardedClient if options.sharded else HeavyClient
        shards: dict[str, Any] = {}
        if options.shard_count is not None:  # this replica's share of the shards
            shards["shard_count"] = options.shard_count
            if options.shard_ids is not None:
                shards["shard_ids"] = list(options.shard_ids)
        client = cls(self, intents=intents(), allowed_mentions=NO_MENTIONS,
                     guild_ready_timeout=guild_ready_timeout, chunk_guilds_at_startup=False,
                     **shards)
        self.client: discord.Client = client
        self.tree = build_tree(self.client, services.config, self, ConfigCommands(services))
        self.history = DiscordHistory(self.client, self._me)
        self.tree.on_error = self._on_command_error  # type: ignore[method-assign]
        self.stop_button = stop_button(self.on_stop)
        self.follow_up_button = follow_up_button(self.on_follow_up)
        self.surface = DiscordSurface(self.client, ChannelPacer(options.edit_interval),
                                      stop_views(self.stop_button), refresh=refresh,
                                      answer_view=answer_views(self.follow_up_button))
        # Attachments only from Discord's CDN (or the host of DISCORD_API_URL), no credentials.
        self.file_policy = discord_policy(
            {"DISCORD_API_URL": options.api_url} if options.api_url else {})
        self.delivery = ReplyPipeline(services.runner, self.surface, name=PLATFORM,
                                      settings=services.settings)
        self._task: asyncio.Task[None] | None = None
        self._deliveries_only = False  # a `--role worker` process: no gateway, no commands

    @property
    def config(self) -> HeavyConfig:
        return self.services.config

    # -- lifecycle ---------------------------------------------------------------------------

    def routes(self) -> list[Any]:
        return []  # Discord comes in over the gateway, not HTTP

    async def start(self) -> None:
        self._point_at_endpoints()
        self.services.runner.register_delivery(PLATFORM, self.delivery)
        self._task = asyncio.create_task(self._run(), name="discord-gateway")

    async def start_deliveries(self) -> None:
        """A worker: log in for REST only (no gateway, no command sync) and deliver."""
        self._point_at_endpoints()
        self.services.runner.register_delivery(PLATFORM, self.delivery)
        self._deliveries_only = True
        self._task = asyncio.create_task(self._login(), name="discord-login")

    async def _login(self) -> None:
        # Login calls setup(): REST works after it.
        await connect(self.client, self.options.token, self.report, gateway=False)

    def report(self, state: str, detail: str) -> None:
        """The connection's state, for /healthz and /metrics."""
        self.services.metrics.set_adapter_state(self.name, state, detail)

    async def stop(self) -> None:
        self.surface.online.clear()
        await self.client.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def _point_at_endpoints(self) -> None:
        # Class attributes in discord.py: the only hook it offers for another host.
        if self.options.api_url:
            discord.http.Route.BASE = self.options.api_url
        if self.options.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.options.gateway_url)

    async def _run(self) -> None:
        await connect(self.client, self.options.token, self.report, gateway=True)

    async def setup(self) -> None:
        """After login, before the gateway: Stop buttons survive restarts; commands sync."""
        self.client.add_dynamic_items(self.stop_button, self.follow_up_button)
        guard_parsers(self.client)  # an unreadable gateway event is dropped, not fatal
        self.surface.online.set()  # REST works from here on
        if self._deliveries_only:
            return  # commands are synced by the replicas that take events
        try:
            await self.tree.sync()
            if self.options.dev_guild:
                guild = discord.Object(self.options.dev_guild)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        except discord.HTTPException:
            log.exception("syncing application commands failed; /heavy may be out of date")

    # -- /heavy ------------------------------------------------------------------------------

    async def ask(self, interaction: discord.Interaction, question: str, agents: int | None,
                  model: str | None) -> None:
        flags: dict[str, Any] = {}
        if agents is not None:
            flags["agents"] = agents
        if model:
            flags["model"] = model
        channel = interaction.channel
        settings_channel, thread = str(interaction.channel_id), None
        context: ContextReader | None = None
        if isinstance(channel, discord.Thread):
            settings_channel, thread = str(channel.parent_id), str(channel.id)
            if channel.owner_id == self._me():
                context = functools.partial(self.history.thread, channel, before=None)
        await self.delivery.ask(Question(
            platform=PLATFORM, workspace=str(interaction.guild_id or ""),
            channel=settings_channel, thread=thread, user=str(interaction.user.id),
            text=question, context=context, flags=flags, help_command="/heavy",
            reply=DiscordReply(str(interaction.channel_id),
                               make_thread=isinstance(channel, discord.TextChannel),
                               mention=interaction.guild_id is not None),  # not in DMs
            dedup_key=f"interaction:{interaction.id}", roles=role_ids(interaction.user),
        ), SlashAsking(interaction))

    # -- @-mentions and follow-ups -----------------------------------------------------------

    def _me(self) -> int:
        assert self.client.user is not None
        return self.client.user.id

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.client.user is None:
            return  # never answer bots, ourselves included
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        me = self._me()
        channel = message.channel
        addressed = message.guild is None or any(u.id == me for u in message.mentions)
        own_thread = channel if isinstance(channel, discord.Thread) and channel.owner_id == me \
            else None
        if not addressed and own_thread is None:
            return  # the common case, decided without any I/O
        try:
            if own_thread is not None and not addressed \
                    and await self._thread_policy(message.guild, own_thread) != "follow":
                return
            await self._ask_from_message(message)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("handling message %s failed (ref %s)", message.id, ref)
            with contextlib.suppress(discord.HTTPException):
                await message.reply(f"⚠️ Something went wrong on my side (ref `{ref}`).",
                                    allowed_mentions=NO_MENTIONS, mention_author=False)

    async def _ask_from_message(self, message: discord.Message) -> None:
        channel = message.channel
        guild = message.guild
        context: ContextReader
        if isinstance(channel, discord.Thread):  # work in the thread it came from
            context = functools.partial(self.history.thread, channel, before=message)
        elif guild is None:  # a DM: answer right there, with the DM so far as context
            context = functools.partial(self.history.dm, message)
        else:  # a channel: the reply chain to one of heavy's answers, if it is one
            context = functools.partial(self.history.chain, message)
        files = [Attachment(a.filename, a.url, a.size, a.content_type, PLATFORM)
                 for a in message.attachments]

        async def send(channel_id: int, text: str) -> None:
            await self.client.get_partial_messageable(channel_id).send(
                text, allowed_mentions=NO_MENTIONS)

        await self.delivery.ask(Question(
            platform=PLATFORM, workspace=str(guild.id) if guild else "",
            channel=str(channel.parent_id) if isinstance(channel, discord.Thread)
            else str(channel.id),
            thread=str(channel.id) if isinstance(channel, discord.Thread) else None,
            user=str(message.author.id), text=strip_bot_mention(message.content, self._me()),
            reply=DiscordReply(str(channel.id), mention=guild is not None),
            context=context, files=files, file_policy=self.file_policy,
            dedup_key=f"message:{message.id}", roles=role_ids(message.author),
            help_command="/heavy",
        ), MessageAsking(message, send))

    async def _thread_policy(self, guild: discord.Guild | None, thread: discord.Thread) -> str:
        if guild is None:
            return "follow"
        resolved = await self.services.settings.resolve(PLATFORM, str(guild.id),
                                                        str(thread.parent_id))
        return resolved.config.thread_policy

    # -- Stop --------------------------------------------------------------------------------

    async def on_stop(self, interaction: discord.Interaction, job_id: str, requester: int) -> None:
        user = str(interaction.user.id)
        # The custom id comes back from the client: only its job id is read. Who asked and
        # where come from the job's record (`requester` is what the button says, unused).

        async def is_admin(job: Job) -> bool:
            # The same rule as a channel's settings: Manage Channels, or the operator's `admins`.
            scope = Scope(PLATFORM, str(interaction.guild_id or "dm"),
                          str(interaction.channel_id))
            return await policy(interaction.permissions, self.config.admins).can_edit(user, scope)

        # Cancelling may wait on the database, and Discord fails a press not answered in 3 s.
        pressing = asyncio.ensure_future(self.delivery.press_stop(
            job_id, user=user, workspace=str(interaction.guild_id or ""),
            channel=str(interaction.channel_id), is_admin=is_admin))
        await asyncio.wait({pressing}, timeout=STOP_ACK_WITHIN)
        if not pressing.done():
            await interaction.response.defer(ephemeral=True, thinking=True)
        outcome, _ = await pressing
        text = _STOP_SAYS[outcome]
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(text, ephemeral=True,
                                                    allowed_mentions=NO_MENTIONS)

    # -- Regenerate / Go deeper ---------------------------------------------------------------

    async def on_follow_up(self, interaction: discord.Interaction, action: Action,
                           job_id: str) -> None:
        """A press: checked against the job record (not the button), then a new job."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = str(interaction.user.id)
        channel = interaction.channel
        settings_channel = str(channel.parent_id) if isinstance(channel, discord.Thread) \
            else str(interaction.channel_id)
        workspace = str(interaction.guild_id or "")
        scope = Scope(PLATFORM, workspace or "dm", settings_channel)

        async def is_admin(job: Job) -> bool:
            return await policy(interaction.permissions, self.config.admins).can_edit(user, scope)

        asking = ButtonAsking(interaction,
                              "Going deeper" if action == "deeper" else "Regenerating")
        try:
            question = await self.delivery.press_follow_up(
                job_id, action, user=user, workspace=workspace, channel=settings_channel,
                click_id=str(interaction.id), is_admin=is_admin,
                reply=DiscordReply(str(interaction.channel_id),
                                   mention=interaction.guild_id is not None),
                roles=role_ids(interaction.user))
        except RequestRejected as err:
            await asking.refuse(err.user_message)
            return
        await self.delivery.ask(question, asking)

    async def _on_command_error(
        self, interaction: discord.Interaction, error: discord.app_commands.AppCommandError
    ) -> None:
        name = getattr(interaction.command, "qualified_name", "?")
        if isinstance(error, _NOT_OURS):  # the request's fault, not ours: no stack trace
            log.info("command %s refused: %s", name, type(error).__name__)
            text = (f"⚠️ {shorten(str(error), 300)}" if isinstance(error, TransformerError)
                    else f"⚠️ {MALFORMED}")
        else:
            ref = uuid.uuid4().hex[:8]
            log.error("command %s failed (ref %s)", name, ref, exc_info=error)
            text = f"⚠️ Something went wrong on my side (ref `{ref}`)."
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True,
                                                allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(text, ephemeral=True,
                                                        allowed_mentions=NO_MENTIONS)


def role_ids(who: discord.User | discord.Member) -> list[str]:
    """A member's role ids for `allow_roles` (none outside a server)."""
    if not isinstance(who, discord.Member):
        return []
    return [str(role.id) for role in who.roles if not role.is_default()]


def create_adapter(services: Services) -> DiscordAdapter | None:
    """The `heavy.adapters` entry point: None unless `DISCORD_TOKEN` is set."""
    options = DiscordOptions.from_env(services.env)
    return DiscordAdapter(services, options) if options is not None else None
