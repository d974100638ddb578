"""What the plugin keeps per app: the memory index and the socket handlers."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from commonly_kernel import Kernel
from commonly_kernel.realtime import Realtime

from .memory import MemoryIndex
from .sockets import PodSockets

_states: WeakKeyDictionary[Realtime, PodsState] = WeakKeyDictionary()


class PodsState:
    def __init__(self, realtime: Realtime) -> None:
        self.index = MemoryIndex()
        self.sockets = PodSockets(realtime)


def state_for(realtime: Realtime) -> PodsState:
    """The plugin's state for one app (keyed by its socket.io server, which registration sees first)."""
    state = _states.get(realtime)
    if state is None:
        state = _states[realtime] = PodsState(realtime)
    return state


def state_of(kernel: Kernel) -> PodsState:
    return state_for(kernel.realtime)
