"""What the registry keeps per app: the catalog, the agent sockets and the installations other
plugins enqueue for (the token → actor cache is per settings object, in ``tokens``: the actor hook
sees only the settings)."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from commonly_kernel import Kernel
from commonly_kernel.realtime import Realtime

from .catalog import Catalog
from .installs import InstallationCache
from .push import AgentSockets

_states: WeakKeyDictionary[Realtime, RegistryState] = WeakKeyDictionary()


class RegistryState:
    def __init__(self, realtime: Realtime) -> None:
        self.catalog = Catalog()
        self.sockets = AgentSockets(realtime)
        self.installations = InstallationCache()


def state_for(realtime: Realtime) -> RegistryState:
    """The plugin's state for one app (keyed by its socket.io server, which registration sees first)."""
    state = _states.get(realtime)
    if state is None:
        state = _states[realtime] = RegistryState(realtime)
    return state


def state_of(kernel: Kernel) -> RegistryState:
    return state_for(kernel.realtime)
