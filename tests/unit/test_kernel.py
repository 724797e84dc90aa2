"""sim.model.kernel.Kernel against stock simpy.Environment: same events, same order, same count.

The Kernel replaces SimPy's event objects by bare (fn, args) tuples for scheduled calls and
keeps FIFO timers out of the heap, and inlines SimPy's run loop. None of that may change the
order in which simultaneous things happen. Each model below is built twice, once on a Kernel
and once on a stock Environment where a scheduled call is emulated by an event with the same
(time, priority, next id) key (a Timeout for NORMAL priority), and the traces of (now, label)
must be identical, element for element.
"""

from __future__ import annotations

import math
import random

import pytest
import simpy
from simpy.events import NORMAL, URGENT

from sim.model.kernel import Kernel, KernelError, check_simpy


class CountingEnvironment(simpy.Environment):
    """Stock SimPy that counts the events it processes (test-only, independent of Kernel's counter)."""

    def __init__(self, initial_time: float = 0):
        super().__init__(initial_time)
        self.count = 0

    def step(self) -> None:
        if self.peek() != math.inf:  # an empty queue raises EmptySchedule: no event processed
            self.count += 1
        super().step()


class KernelCalls:
    """Scheduled calls and FIFO timers on the Kernel itself."""

    def __init__(self, env: Kernel):
        self.env = env

    def call(self, delay, fn, args=(), priority=NORMAL):
        self.env.call(delay, fn, args, priority)

    def call_fifo(self, delay, fn, args=()):
        self.env.call_fifo(delay, fn, args)


class StockCalls:
    """The same calls emulated with events on stock SimPy (one id taken from the queue each)."""

    def __init__(self, env: simpy.Environment):
        self.env = env

    def call(self, delay, fn, args=(), priority=NORMAL):
        if priority == NORMAL:
            ev = self.env.timeout(delay)
        else:
            ev = simpy.Event(self.env)
            ev._ok, ev._value = True, None
            self.env.schedule(ev, priority, delay)
        ev.callbacks.append(lambda _ev: fn(*args))

    def call_fifo(self, delay, fn, args=()):
        self.call(delay, fn, args)


def events_processed(env) -> int:
    return env.events_processed if isinstance(env, Kernel) else env.count


# --------------------------------------------------------------------------- the models


def handmade_model(env, calls, trace) -> None:
    """Coinciding timeouts (1.0, 0.5 + 0.5, 0), events succeeded by others, processes started at
    the same time, scheduled calls (NORMAL and URGENT) and FIFO timers due at the same times."""

    def rec(label):
        trace.append((env.now, label))

    gate = env.event()
    late_gate = env.event()

    def child(name):
        rec(f"{name}:start")
        yield env.timeout(0)
        rec(f"{name}:after0")
        yield env.timeout(0.5)
        rec(f"{name}:end")

    def one_step():  # 1.0 in one timeout
        rec("a:start")
        yield env.timeout(1.0)
        rec("a:1.0")
        yield env.timeout(0)
        rec("a:1.0+0")
        value = yield gate
        rec(f"a:gate={value}")
        yield late_gate
        rec("a:late_gate")

    def two_steps():  # 0.5 + 0.5
        yield env.timeout(0.5)
        rec("b:0.5")
        yield env.timeout(0.5)
        rec("b:1.0")
        gate.succeed("opened-by-b")
        rec("b:succeeded")
        env.process(child("child-of-b"))
        yield env.timeout(1.0)
        rec("b:2.0")

    def zero_first():
        yield env.timeout(0)
        rec("c:0")
        yield env.timeout(1.0)
        rec("c:1.0")
        env.process(child("child-of-c"))
        yield env.timeout(0.5)
        rec("c:1.5")

    def waiter(name):
        value = yield gate
        rec(f"{name}:gate={value}")

    for p in (one_step(), two_steps(), zero_first(), waiter("w1"), waiter("w2")):
        env.process(p)

    def fifo_chain(k):
        rec(f"chain{k}")
        if k < 4:
            calls.call_fifo(0.5, fifo_chain, (k + 1,))  # re-enters the FIFO of its own delay

    def call_at_half():
        rec("call:0.5")
        calls.call(0.5, rec, ("call:nested-1.0",))
        calls.call_fifo(0.5, rec, ("fifo0.5:made-at-0.5",))  # due 1.0, like the 1.0 timers made at 0
        calls.call_fifo(1.0, rec, ("fifo1.0:made-at-0.5",))  # due 1.5
        calls.call(0.5, rec, ("urgent:nested-1.0",), URGENT)

    def start_process_from_call():
        rec("call:starts-process")
        env.process(child("child-of-call"))

    def open_late_gate():
        rec("call:opens-late-gate")
        late_gate.succeed()

    calls.call(0, rec, ("call:0",))
    calls.call(0, rec, ("urgent:0",), URGENT)
    calls.call(1.0, rec, ("call:1.0",))
    calls.call(1.0, rec, ("urgent:1.0",), URGENT)
    for k in range(3):
        calls.call_fifo(1.0, rec, (f"fifo1.0:{k}",))
    calls.call_fifo(0.5, fifo_chain, (0,))
    calls.call(0.5, call_at_half)
    calls.call(1.0, start_process_from_call)
    calls.call(1.5, open_late_gate)
    calls.call(2.0, rec, ("call:2.0",))
    calls.call(3.0, rec, ("call:3.0",))
    calls.call(3.0, rec, ("urgent:3.0",), URGENT)


def random_model(env, calls, trace, seed: int, n_processes: int = 25, n_steps: int = 30) -> None:
    """Many processes taking random actions with delays on a coarse dyadic grid (exact in floating
    point), so that most events coincide with others. The random choices are consumed in the
    order things happen: any difference of order shows up in the trace."""
    rng = random.Random(seed)
    delays = (0.0, 0.25, 0.5, 0.5, 1.0)
    shared = [env.event() for _ in range(6)]

    def rec(label):
        trace.append((env.now, label))

    def fired(label):
        rec(label)
        if rng.random() < 0.3:  # a call that schedules more calls
            calls.call_fifo(rng.choice((0.5, 1.0)), rec, (f"{label}>fifo",))

    def proc(name, steps):
        for k in range(steps):
            action = rng.randrange(7)
            tag = f"{name}.{k}"
            if action == 0:
                yield env.timeout(rng.choice(delays))
                rec(f"{tag}:timeout")
            elif action == 1:
                calls.call(rng.choice(delays), fired, (f"{tag}:call",))
            elif action == 2:
                calls.call(rng.choice(delays), fired, (f"{tag}:urgent",), URGENT)
            elif action == 3:
                calls.call_fifo(rng.choice((0.5, 1.0)), fired, (f"{tag}:fifo",))
            elif action == 4 and k < steps - 1:
                env.process(proc(f"{tag}:child", rng.randrange(1, 4)))
            elif action == 5:
                ev = rng.choice(shared)
                if not ev.triggered:
                    ev.succeed(tag)
                    rec(f"{tag}:succeed")
            else:
                ev = rng.choice(shared)
                value = yield ev
                rec(f"{tag}:woke({value})")

    for p in range(n_processes):
        env.process(proc(f"p{p}", n_steps))


# --------------------------------------------------------------------------- running both


def run_both(build, drive):
    """Build the model on a Kernel and on stock SimPy, drive both the same way; traces and counts."""
    out = []
    for env, calls in ((k := Kernel()), KernelCalls(k)), ((s := CountingEnvironment()), StockCalls(s)):
        trace = []
        build(env, calls, trace)
        drive(env, trace)
        out.append((trace, events_processed(env), env.now))
    return out


def until(*times):
    def drive(env, trace):
        for t in times:
            env.run(until=t)
            trace.append(("stopped at", env.now))

    return drive


def assert_same(kernel, stock):
    (k_trace, k_count, k_now), (s_trace, s_count, s_now) = kernel, stock
    assert len(k_trace) > 5  # the model did something
    assert k_trace == s_trace
    assert k_now == s_now
    assert k_count == s_count


UNTILS = {
    "int": (3,),
    "float": (3.0,),
    "between_events": (2.75,),
    "at_coinciding_events": (1,),  # the stop comes before the NORMAL events due at 1.0
    "successive_int_and_float": (1, 1.5, 2, 4.0),
}


@pytest.mark.parametrize("times", UNTILS.values(), ids=UNTILS.keys())
def test_handmade_model_runs_identically_to_stock_simpy(times):
    kernel, stock = run_both(handmade_model, until(*times))
    assert kernel[0][-1] == ("stopped at", times[-1])
    assert_same(kernel, stock)


def test_handmade_model_orders_coinciding_entries_as_expected():
    """Orderings at t = 1.0 stated by hand (SimPy's rule: time, then URGENT before NORMAL, then
    creation order), so that the test does not only compare two loops with each other."""
    kernel, stock = run_both(handmade_model, until(4))
    at_1 = [label for t, label in kernel[0] if t == 1.0]

    def before(*labels):
        positions = [at_1.index(label) for label in labels]
        assert positions == sorted(positions), labels

    # URGENT first (in creation order), even one made later than the NORMAL entries
    before("urgent:1.0", "urgent:nested-1.0", "call:1.0")
    # NORMAL in creation order: the calls and FIFO timers made while building, then the timeouts
    # the processes made when they first ran (their start events come after the build)
    before("call:1.0", "fifo1.0:0", "fifo1.0:1", "fifo1.0:2", "call:starts-process", "a:1.0", "c:1.0")
    # the 0.5-delay FIFO holds chain1 then "made-at-0.5"; a plain call made between the two
    # (by call:0.5, which ran after chain0) must come out between them
    before("chain1", "call:nested-1.0", "fifo0.5:made-at-0.5")
    # a process started by a call begins at once (its start event is URGENT)
    assert at_1[at_1.index("call:starts-process") + 1] == "child-of-call:start"
    # waiters wake in the order they began waiting, after the process that opened the gate
    before("b:1.0", "b:succeeded", "w1:gate=opened-by-b", "w2:gate=opened-by-b", "a:gate=opened-by-b")
    chain = [(t, label) for t, label in kernel[0] if str(label).startswith("chain")]
    assert chain == [(0.5 * (k + 1), f"chain{k}") for k in range(5)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("times", [(4,), (2.0, 3.5, 9)], ids=["int", "successive"])
def test_random_models_run_identically_to_stock_simpy(seed, times):
    kernel, stock = run_both(lambda env, calls, trace: random_model(env, calls, trace, seed), until(*times))
    assert_same(kernel, stock)


def drive_by_steps(env, trace):
    while env.peek() != math.inf:
        env.step()


def drive_to_end(env, trace):
    env.run()


def drive_until_event(env, trace):
    stop = env.timeout(2.5)
    env.run(until=stop)
    trace.append(("stopped at", env.now))


@pytest.mark.parametrize("drive", [drive_by_steps, drive_until_event], ids=["step", "run_until_event"])
@pytest.mark.parametrize(
    "build", [handmade_model, lambda env, calls, trace: random_model(env, calls, trace, 7)], ids=["handmade", "random"]
)
def test_slow_path_runs_identically_and_counts_every_event(build, drive):
    kernel, stock = run_both(build, drive)
    assert_same(kernel, stock)


@pytest.mark.parametrize(
    "build", [handmade_model, lambda env, calls, trace: random_model(env, calls, trace, 7)], ids=["handmade", "random"]
)
def test_run_to_the_end_gives_the_same_trace(build):
    (k_trace, _, k_now), (s_trace, _, s_now) = run_both(build, drive_to_end)
    assert k_trace == s_trace
    assert k_now == s_now


def test_run_to_the_end_counts_the_events_processed():
    kernel, stock = run_both(handmade_model, drive_to_end)
    assert kernel[1] == stock[1]


def test_step_on_an_empty_queue_counts_nothing():
    env = Kernel()
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()
    assert env.events_processed == 0


# --------------------------------------------------------------------------- failures


def test_a_failing_process_stops_the_fast_run_loop_with_its_exception():
    for env in (Kernel(), simpy.Environment()):

        def bad(env=env):
            yield env.timeout(1.0)
            raise ValueError("boom at 1")

        def survivor(log, env=env):
            yield env.timeout(2.0)
            log.append("not reached")

        log = []
        env.process(bad())
        env.process(survivor(log))
        with pytest.raises(ValueError, match="boom at 1") as info:
            env.run(until=5)
        assert isinstance(info.value.__cause__, ValueError)  # a copy, caused by the original
        assert env.now == 1.0
        assert log == []


def test_a_failure_caught_by_a_waiting_process_does_not_stop_the_run():
    env = Kernel()
    caught = []

    def bad():
        yield env.timeout(1.0)
        raise KeyError("handled")

    def parent():
        try:
            yield env.process(bad())
        except KeyError as e:
            caught.append((env.now, e.args[0]))
        yield env.timeout(1.0)
        caught.append((env.now, "done"))

    env.process(parent())
    env.run(until=5)
    assert caught == [(1.0, "handled"), (2.0, "done")]
    assert env.now == 5


def test_an_exception_raised_by_a_scheduled_call_propagates():
    env = Kernel()
    env.call(1.0, lambda: 1 / 0)
    env.call_fifo(0.5, lambda: None)
    with pytest.raises(ZeroDivisionError):
        env.run(until=3)
    assert env.now == 1.0


def test_a_failing_process_stops_the_slow_run_loop_too():
    env = Kernel()

    def bad():
        yield env.timeout(1.0)
        raise RuntimeError("slow path")

    env.process(bad())
    with pytest.raises(RuntimeError, match="slow path"):
        env.run()


# --------------------------------------------------------------------------- versions and arguments


def test_check_simpy_refuses_another_minor_version_with_instructions():
    with pytest.raises(KernelError) as info:
        check_simpy("4.2.0")
    msg = str(info.value)
    assert "4.2.0" in msg  # the version found
    assert "4.1" in msg  # the version required
    assert "pip install 'simpy>=4.1,<4.2'" in msg
    assert isinstance(info.value, RuntimeError)


def test_check_simpy_refuses_a_prefix_lookalike():
    with pytest.raises(KernelError):
        check_simpy("4.10.0")  # starts with "4.1" but is not 4.1.x


def test_check_simpy_accepts_the_installed_simpy():
    assert simpy.__version__.startswith("4.1.")
    check_simpy()
    check_simpy(simpy.__version__)
    Kernel()  # makes one without complaint


@pytest.mark.parametrize("first, then", [(None, 0), (None, -1.0), (2, 2), (2, 2.0), (2, 1.5)])
def test_run_until_a_time_not_in_the_future_raises_value_error(first, then):
    env = Kernel()
    env.call(1.0, lambda: None)
    if first is not None:
        env.run(until=first)
    with pytest.raises(ValueError, match="must be greater than the current simulation time"):
        env.run(until=then)


def test_a_dead_fifo_timer_is_dropped_unfired_and_the_others_keep_their_times():
    """A FIFO timer whose `dead` test is true when it would reach the head never becomes an event;
    the live ones fire at their own times, in order with everything else."""

    def run(kill: set[str]) -> tuple[list[str], int]:
        env = Kernel()
        fired: list[str] = []
        killed: set[str] = set()

        def make(tag: str) -> None:
            env.call_fifo(1.0, fired.append, (tag,), lambda t: t in killed)

        for k in range(5):
            env.call(k * 0.1, make, (f"t{k}",))  # due at 1.0, 1.1, 1.2, 1.3, 1.4
        env.call(0.95, killed.update, (kill,))
        env.call(1.25, fired.append, ("other",))
        env.run(until=3)
        return fired, env.events_processed

    all_fired, all_events = run(set())
    assert all_fired == ["t0", "t1", "t2", "other", "t3", "t4"]
    fired, events = run({"t1", "t2", "t4"})
    assert fired == ["t0", "other", "t3"]
    assert events == all_events - 3  # the three dead timers were never events
