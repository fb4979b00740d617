"""The link to edgeHub: one IoT Hub module client at a time, connected, watched and replaced.

The module (``edge.py``) says how a client is set up and what to do after the SDK reconnects;
this module keeps a working client: it retries the set-up, replaces a client that stays
disconnected, whose network thread died (``netthread.py``) or that stops acknowledging, and
sends outputs with a deadline. docs/reliability.md tells which faults each part is for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from azure.iot.device import Message
from azure.iot.device.aio import IoTHubModuleClient
from azure.iot.device.common.auth.sastoken import SasTokenError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_never, wait_exponential

from predictor.iot.client_maker import ClientMaker
from predictor.iot.netthread import watch_network_threads
from predictor.settings import IotSettings

log = logging.getLogger(__name__)

# Set-up tries on one client before it is replaced by a new one.
REBUILD_AFTER = 3
# Seconds a replaced client gets to disconnect: a healthy one takes milliseconds, one whose
# network thread died never does, and the new client should not wait for it.
DROP_GRACE_SECONDS = 2.0

ClientStep = Callable[[IoTHubModuleClient], Awaitable[None]]


class LinkReplacedError(ConnectionError):
    """A send was given up with its client: it goes again on the next one."""


class EdgeLink:
    """Keeps one working module client. ``set_up`` connects and subscribes a client (safe to
    repeat); ``reconnected`` runs after the SDK reconnected a client by itself."""

    def __init__(self, settings: IotSettings, set_up: ClientStep, reconnected: ClientStep) -> None:
        self.settings = settings
        self.client: IoTHubModuleClient | None = None
        self.recovering = False
        self._set_up = set_up
        self._reconnected = reconnected
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._recovery: asyncio.Task[None] | None = None
        # Set while a client is connected and set up; senders wait for it after a replacement.
        self._ready = asyncio.Event()
        self._unwatch: Callable[[], None] | None = None
        self._maker = ClientMaker(settings)
        # The sends in flight, oldest deadline first (a dict as an ordered set), and the one
        # timer that watches them all: a timer per send costs the event loop more per message.
        self._sends: dict[_Send, None] = {}
        self._timer: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Connect and set up, retrying until edgeHub answers; then keep the link healthy."""
        self._loop = asyncio.get_running_loop()
        self._unwatch = watch_network_threads(self._on_network_thread_death)
        await self._connect()
        self._tasks.append(asyncio.create_task(self._watchdog(), name="edge-watchdog"))

    async def close(self, grace: float) -> None:
        """Stop watching and disconnect."""
        if self._unwatch is not None:
            self._unwatch()
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.client is not None:
            try:
                async with asyncio.timeout(grace):
                    await self.client.shutdown()
            except Exception as exc:  # a broken link must not keep the process alive
                log.warning("disconnect from edgeHub failed: %s", exc)

    async def _new_client(self) -> IoTHubModuleClient:
        """A new client (``client_maker.py``), its callbacks set."""
        client = await self._maker.make()

        def state_changed(*_: object) -> None:
            self._on_connection_state_change(client)

        def background_exception(exc: Exception) -> None:
            self._on_background_exception(client, exc)

        client.on_connection_state_change = state_changed
        client.on_background_exception = background_exception
        # Handler mode before connecting: a client that resumes this module's MQTT session is
        # sent the inputs the broker kept for it at once, before our handler can be set; in
        # handler mode the SDK holds them until it is, otherwise it drops them (acknowledged).
        client.on_message_received = None  # type: ignore[assignment]  # the SDK allows None
        return client

    async def _connect(self) -> None:
        """Set up a client; one that keeps failing is replaced by a new one.

        The SDK subscribes once per client and relies on the broker keeping those subscriptions;
        a broker that lost them (a crash before it saved them) leaves the client deaf to twin
        answers and inputs, and only a new client subscribes again.
        """
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=0.5, max=self.settings.iot_reconnect_seconds),
            stop=stop_never,
            before_sleep=lambda state: log.warning(
                "edgeHub does not answer yet (%s); trying again",
                describe(state.outcome.exception() if state.outcome else None),
            ),
        ):
            with attempt:
                number = attempt.retry_state.attempt_number
                if self.client is not None and number > 1 and number % REBUILD_AFTER == 1:
                    await self._drop_client()
                if self.client is None:
                    self.client = await self._new_client()
                await self._set_up(self.client)
        self._ready.set()

    async def _drop_client(self) -> None:
        self._ready.clear()
        client, self.client = self.client, None
        if client is None:
            return
        log.warning("replacing the edgeHub connection with a new one")
        try:
            async with asyncio.timeout(min(self.settings.iot_timeout_seconds, DROP_GRACE_SECONDS)):
                await client.shutdown()
        except Exception as exc:  # it is being dropped because it misbehaves
            log.info("the old edgeHub connection did not close cleanly: %s", describe(exc))

    async def recover(self) -> None:
        """Replace the client and set everything up again (one recovery at a time)."""
        if self.recovering:
            return
        self.recovering = True
        try:
            await self._drop_client()
            await self._connect()
            log.info("edgeHub connection restored")
        finally:
            self.recovering = False

    def request_recovery(self, reason: str) -> None:
        """Replace the client in the background (unless that is already under way)."""
        pending = self._recovery is not None and not self._recovery.done()
        if pending or self.recovering or self.client is None:
            return
        log.warning("%s: replacing the edgeHub connection", reason)
        self._recovery = asyncio.create_task(self.recover(), name="edge-recover")
        self._tasks.append(self._recovery)

    async def _watchdog(self) -> None:
        """Replace a client that stays disconnected: the SDK's reconnect thread can die (an
        SSL error while the broker goes away) and then it never reconnects by itself."""
        grace = 3 * self.settings.iot_reconnect_seconds + self.settings.iot_timeout_seconds
        down_since: float | None = None
        while True:
            await asyncio.sleep(self.settings.iot_reconnect_seconds)
            client = self.client
            if self.recovering or client is None or client.connected:
                down_since = None
                continue
            now_ = asyncio.get_running_loop().time()
            down_since = down_since or now_
            if now_ - down_since > grace:
                log.warning("no connection to edgeHub for %.0f s", now_ - down_since)
                down_since = None
                await self.recover()

    async def send_to_output(self, message: Message, output: str) -> None:
        """One send on the current client, watched: a client that says it is connected but
        does not get an acknowledgement in time has a dead link (see netthread.py).

        One timer watches every send in flight (``_check_sends``); a send only enters itself in
        ``_sends``. A send past its deadline is given up with ``LinkReplacedError`` - on a
        connected client, which is then replaced, or on a client already replaced - by
        cancelling the sending task; on a disconnected client it keeps waiting, as the SDK
        keeps it to send on reconnect.
        """
        await self._ready.wait()
        client = self.client
        assert client is not None
        task = asyncio.current_task()
        assert task is not None
        assert self._loop is not None
        send = _Send(task, client, self._loop.time() + self.settings.iot_timeout_seconds)
        self._sends[send] = None
        if self._timer is None:
            self._timer = self._loop.call_at(send.deadline, self._check_sends)
        try:
            await client.send_message_to_output(message, output)
        except asyncio.CancelledError:
            # Ours only if the timer gave it up and nobody else cancels the task too.
            if send.verdict is None or task.uncancel() > 0:
                raise
            raise LinkReplacedError(send.verdict) from None
        finally:
            self._sends.pop(send, None)

    def _check_sends(self) -> None:
        """The one timer: give up the sends past their deadline, then wait for the next."""
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        timeout = self.settings.iot_timeout_seconds
        # In order of deadline: every send gets the same timeout, and one that is given more
        # time goes to the end with the latest deadline.
        while self._sends:
            send = next(iter(self._sends))
            if send.deadline > now:
                break
            del self._sends[send]
            if send.client is not self.client:
                send.give_up("the edgeHub connection was replaced")
            elif send.client.connected:
                self.request_recovery(
                    f"no acknowledgement from edgeHub in {timeout:.0f} s on a connected link"
                )
                send.give_up("the edgeHub link did not acknowledge in time")
            else:  # while disconnected the SDK keeps it to send on reconnect
                send.deadline = now + timeout
                self._sends[send] = None
        if self._sends:
            first = next(iter(self._sends))
            self._timer = self._loop.call_at(first.deadline, self._check_sends)

    # -- SDK callbacks (on the SDK's threads: hand over to the loop and return) ----------------

    def _on_network_thread_death(self, exc: BaseException) -> None:
        # On the dying thread: the client it served is dead although it says it is connected.
        assert self._loop is not None
        reason = f"the IoT SDK's network thread died ({type(exc).__name__}: {exc})"
        self._loop.call_soon_threadsafe(self.request_recovery, reason)

    def _on_background_exception(self, client: IoTHubModuleClient, exc: Exception) -> None:
        log.warning("IoT SDK background error: %s", describe(exc))
        if isinstance(exc, SasTokenError):
            # The SDK renews its token once, 120 s before expiry; when that fails it never
            # tries again and the link dies at expiry (edgeHub closes it). A new client signs
            # a new token (retried until the workload API signs again).
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._token_renewal_failed, client)

    def _token_renewal_failed(self, client: IoTHubModuleClient) -> None:
        if client is self.client:
            self.request_recovery("the IoT SDK could not renew its SAS token")

    def _on_connection_state_change(self, client: IoTHubModuleClient) -> None:
        assert self._loop is not None
        if client is not self.client:
            return  # a replaced client saying goodbye
        if client.connected:
            log.info("connected to edgeHub: reading the module twin")
            asyncio.run_coroutine_threadsafe(self._after_reconnect(client), self._loop)
        else:
            log.warning("disconnected from edgeHub; the SDK reconnects by itself")

    async def _after_reconnect(self, client: IoTHubModuleClient) -> None:
        if not self.recovering:  # else a recovery is setting this client up
            await self._reconnected(client)


class _Send:
    """One send in flight: the task awaiting it, its client and its deadline (loop time)."""

    __slots__ = ("client", "deadline", "task", "verdict")

    def __init__(self, task: asyncio.Task[Any], client: IoTHubModuleClient, deadline: float):
        self.task = task
        self.client = client
        self.deadline = deadline
        self.verdict: str | None = None  # why it was given up, once it is

    def give_up(self, reason: str) -> None:
        self.verdict = reason
        self.task.cancel()


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "?"
    return str(exc) or type(exc).__name__
