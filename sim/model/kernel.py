"""The event-loop kernel: the only code in slotsim that touches SimPy's internals.

`Kernel` is a `simpy.Environment` whose `run(until=t)` is SimPy 4.1's own loop
(`Environment.run` with `step` inlined), processing the same events in the same
order, plus two cheaper kinds of entry that the model schedules by the hundred
thousand:

- a *scheduled call* (`call`): a bare `(fn, args)` tuple in SimPy's queue with the
  (time, priority, id) key `Environment.schedule` would give an event, at the
  cost of one tuple instead of an Event object and its callback list;
- a *FIFO timer* (`call_fifo`): a scheduled call of one constant delay (e.g. the
  expiry of a registration). Timers of one delay come due in the order they are
  made, so they wait in a deque and only the head sits in the heap: same keys,
  same order, a much smaller heap. A timer may come with a `dead` test: once it
  says the timer can no longer do anything (its registration is settled), the
  timer is dropped when it reaches the head instead of firing as an empty event.

It also counts processed events (`events_processed`, the model's cost measure).
The layout of SimPy's queue entries is checked when a kernel is made: on a SimPy
whose internals differ, the model refuses to run with a clear message rather than
run wrongly (`simpy>=4.1,<4.2` is pinned in pyproject.toml).
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Callable

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT, EventPriority

SUPPORTED_SIMPY = "4.1"
__all__ = ["Kernel", "KernelError", "NORMAL", "URGENT", "check_simpy"]


class KernelError(RuntimeError):
    """The installed SimPy's internals are not those the kernel was written for."""


def check_simpy(version: str | None = None) -> None:
    """Refuse a SimPy whose queue layout the kernel cannot rely on."""
    version = simpy.__version__ if version is None else version
    if not version.startswith(SUPPORTED_SIMPY + "."):
        raise KernelError(
            f"slotsim's event loop is written for SimPy {SUPPORTED_SIMPY}.x and SimPy {version} is installed: "
            f"run `pip install 'simpy>={SUPPORTED_SIMPY},<4.2'`"
        )
    env = simpy.Environment()
    env.timeout(1.0)
    entry = env._queue[0] if isinstance(getattr(env, "_queue", None), list) and env._queue else None
    if not (isinstance(entry, tuple) and len(entry) == 4 and hasattr(env, "_eid") and hasattr(env, "_now")):
        raise KernelError(
            f"SimPy {version}: its event queue is not laid out as slotsim's kernel expects "
            f"(time, priority, id, event); run `pip install 'simpy>={SUPPORTED_SIMPY},<4.2'`"
        )


class Kernel(simpy.Environment):
    """simpy.Environment with scheduled calls, FIFO timers and an event count."""

    def __init__(self, initial_time: float = 0):
        check_simpy()
        super().__init__(initial_time)
        self.events_processed = 0
        self._fifos: dict[float, deque] = {}

    def call(self, delay: float, fn: Callable[..., Any], args: tuple = (), priority: EventPriority = NORMAL) -> None:
        """Call fn(*args) after `delay`, ordered exactly as an event scheduled now with that delay."""
        queue: list[Any] = self._queue  # SimPy types it as events only; a scheduled call is a tuple
        heapq.heappush(queue, (self._now + delay, priority, next(self._eid), (fn, args)))

    def call_fifo(
        self,
        delay: float,
        fn: Callable[..., Any],
        args: tuple = (),
        dead: Callable[..., bool] | None = None,
    ) -> None:
        """`call` for many timers of one constant delay: a deque per delay, only its head in the heap.

        `dead(*args)` true means fn(*args) would do nothing, now and at any later time (it
        must stay true once true): such a timer is dropped unfired when it reaches the head.
        The timers that do fire keep their keys, so nothing else changes but the event count."""
        fifo = self._fifos.get(delay)
        if fifo is None:
            fifo = self._fifos[delay] = deque()
        entry = (self._now + delay, NORMAL, next(self._eid), (self._fifo_fire, (fifo, fn, args, dead)))
        fifo.append(entry)
        if len(fifo) == 1:
            queue: list[Any] = self._queue
            heapq.heappush(queue, entry)

    def _fifo_fire(self, fifo: deque, fn: Callable[..., Any], args: tuple, dead: Callable[..., bool] | None) -> None:
        fifo.popleft()  # this entry: only a FIFO's head is ever in the heap
        while fifo:
            head = fifo[0]
            _, _, head_args, head_dead = head[3][1]  # (fifo, fn, args, dead) of the next timer
            if head_dead is not None and head_dead(*head_args):
                fifo.popleft()  # would do nothing when due: never becomes an event
                continue
            heapq.heappush(self._queue, head)
            break
        fn(*args)

    def step(self) -> None:
        queue = self._queue
        if queue:  # an empty queue raises EmptySchedule below: nothing processed
            self.events_processed += 1
        if queue and queue[0][3].__class__ is tuple:  # a scheduled call
            self._now, _, _, (fn, args) = heapq.heappop(queue)
            fn(*args)
            return
        super().step()

    def run(self, until: float | simpy.Event | None = None) -> Any:
        """SimPy 4.1's run loop with step inlined; `until` a time (the model's use) takes the fast path."""
        if until is None or isinstance(until, simpy.Event):
            return super().run(until)  # through step(): counted, scheduled calls handled
        at = until if isinstance(until, int) else float(until)
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop = simpy.Event(self)
        stop._ok = True
        stop._value = None
        self.schedule(stop, URGENT, at - self._now)
        stop.callbacks.append(StopSimulation.callback)
        queue, pop, bare = self._queue, heapq.heappop, tuple
        n = 0
        try:
            while True:
                try:
                    self._now, _, _, event = pop(queue)
                except IndexError:
                    raise RuntimeError(
                        f'No scheduled events left but "until" event was not triggered: {stop}'
                    ) from None
                n += 1
                if event.__class__ is bare:  # a scheduled call: (fn, args)
                    event[0](*event[1])
                    continue
                callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]  # as SimPy does
                try:
                    for callback in callbacks:
                        callback(event)
                except StopSimulation:
                    event.callbacks = callbacks[callbacks.index(callback) + 1 :]
                    self.schedule(event, EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation as exc:
            return exc.args[0]
        finally:
            self.events_processed += n
