"""The emulator's API on modules' connections: who is connected, how each left, the tokens and
the CONNECTs its relay refused."""

from __future__ import annotations

from devtools.edgehub.hub_part import HubPart


class Connections(HubPart):
    """How the modules connect, as the hub and its relays saw it."""

    def token_expiries(self, module_id: str, device_id: str | None = None) -> list[float]:
        """The expiry (epoch seconds) of the SAS token of each connection the module's relay
        accepted, oldest first."""
        key = self._key(device_id, module_id)
        with self._lock:
            return list(self._state.modules[key].token_expiries)

    def refusals(self, module_id: str, device_id: str | None = None) -> list[str]:
        """Why each CONNECT the module's relay refused was refused, oldest first."""
        key = self._key(device_id, module_id)
        with self._lock:
            return list(self._state.modules[key].refusals)

    def is_connected(self, module_id: str, device_id: str | None = None) -> bool:
        """Whether the module is connected to its broker right now."""
        key = self._key(device_id, module_id)
        with self._lock:
            return self._state.modules[key].online

    def disconnects(self, module_id: str, device_id: str | None = None) -> list[str]:
        """How the module left each time, as its broker saw it: "clean" (it sent DISCONNECT,
        as a module shutting down should), "closed" (the connection just ended), "timeout"
        (keep-alive expired) or "error". Not counted: drops caused by a broker restart."""
        key = self._key(device_id, module_id)
        with self._lock:
            return list(self._state.modules[key].departures)

    def wait_for_connection(
        self,
        module_id: str,
        connected: bool = True,
        timeout: float = 30.0,
        device_id: str | None = None,
    ) -> None:
        """Wait until the module is connected (or, with ``connected=False``, disconnected)."""
        key = self._key(device_id, module_id)
        module = self._state.modules[key]
        with self._lock:
            if not self._lock.wait_for(lambda: module.online == connected, timeout):
                state = "connect" if connected else "disconnect"
                raise TimeoutError(f"{key[0]}/{key[1]} did not {state} in {timeout} s")
