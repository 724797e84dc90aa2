"""SearchPool and Registry (sim/model/pools.py) against a plain Python set, and SearchPool.pick's weights."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.model.pools import Registry, SearchPool

RATES = [16.0, 4.0, 1.0, 0.4]  # the default checking habits (checks per day)

# An operation: (True, person, habit) adds, (False, person, _) removes. Few people, so that
# removals of present members (including the last of a list and the only one) are frequent.
ops_strategy = st.lists(st.tuples(st.booleans(), st.integers(0, 15), st.integers(0, len(RATES) - 1)), max_size=80)


def check_search_pool(pool: SearchPool, model: dict[int, int]) -> None:
    """The pool holds exactly the model's members (person -> habit), each once, in its habit's list."""
    assert len(pool) == len(model)
    for i in range(16):
        assert (i in pool) == (i in model)
    everyone = pool.everyone()
    assert sorted(everyone) == sorted(model)  # sorted lists: also catches a member listed twice
    for habit, members in enumerate(pool.members):
        assert sorted(members) == sorted(i for i, h in model.items() if h == habit)
    expected_rate = sum(RATES[h] for h in model.values())
    assert math.isclose(pool.total_rate(), expected_rate, rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=300, deadline=None)
@given(ops_strategy)
def test_search_pool_agrees_with_a_set_after_any_adds_and_removes(ops):
    pool, model = SearchPool(RATES), {}
    for is_add, i, habit in ops:
        if is_add:
            if i in model:
                continue  # the model only adds people not already searching (see the test below)
            pool.add(i, habit)
            model[i] = habit
        else:
            assert pool.remove(i) == (i in model)
            model.pop(i, None)
        check_search_pool(pool, model)


@settings(max_examples=300, deadline=None)
@given(ops_strategy)
def test_registry_agrees_with_a_set_after_any_adds_and_removes(ops):
    habit_of = [i % len(RATES) for i in range(16)]
    reg, model = Registry(habit_of, len(RATES)), set()
    for is_add, i, _ in ops:
        if is_add:
            reg.add(i)  # adding a present member is allowed and changes nothing
            model.add(i)
        else:
            assert reg.remove(i) == (i in model)
            model.discard(i)
        assert len(reg) == len(model)
        assert sorted(reg.items) == sorted(model)
        assert all((i in reg) == (i in model) for i in range(16))
        assert all(reg.items[k] == i for i, k in reg.pos.items())  # positions point at their member
        # the count per habit kept up to date is the count of the members
        assert reg.by_habit == [sum(1 for i in model if habit_of[i] == h) for h in range(len(RATES))]


def test_remove_of_an_absent_member_returns_false_and_changes_nothing():
    pool = SearchPool(RATES)
    pool.add(1, 0)
    pool.add(2, 3)
    assert pool.remove(7) is False
    assert pool.remove(1) is True
    assert pool.remove(1) is False
    assert pool.everyone() == [2] and len(pool) == 1

    reg = Registry([0] * 8, 1)
    assert reg.remove(3) is False
    reg.add(3)
    reg.add(3)
    assert len(reg) == 1
    assert reg.remove(3) is True
    assert reg.remove(3) is False
    assert len(reg) == 0 and reg.items == [] and reg.by_habit == [0]


def test_empty_pool_has_zero_rate():
    pool = SearchPool(RATES)
    assert len(pool) == 0 and pool.total_rate() == 0 and pool.everyone() == []


def build_pool_with_history():
    """A pool whose lists have been reshuffled by swap-removals: 30 people added, 10 removed."""
    pool = SearchPool(RATES)
    habit_of = {}
    for i in range(30):
        habit_of[i] = i % len(RATES)
        pool.add(i, habit_of[i])
    removed = [0, 4, 5, 9, 13, 14, 17, 22, 27, 29]  # includes list heads, middles and last entries
    for i in removed:
        assert pool.remove(i)
        del habit_of[i]
    return pool, habit_of, removed


def test_pick_is_proportional_to_each_members_rate():
    pool, habit_of, removed = build_pool_with_history()
    members = sorted(habit_of)
    weights = np.array([RATES[habit_of[i]] for i in members])
    expected_p = weights / weights.sum()

    rng = np.random.default_rng(20240501)
    n = 100_000
    picks = [pool.pick(rng) for _ in range(n)]

    counts = {i: 0 for i in members}
    for i in picks:
        assert i in counts, f"picked {i}, who is not in the pool (removed: {removed})"
        counts[i] += 1
    observed = np.array([counts[i] for i in members])
    # Chi-square goodness of fit of the counts to rate-proportional probabilities (total rate
    # 115.4/day, so every expected count is >= 100_000 * 0.4 / 115.4 > 300); p > 0.001 fails by
    # chance for one seed in a thousand, and the seed is fixed.
    result = stats.chisquare(observed, n * expected_p)
    assert result.pvalue > 0.001, (result, dict(zip(members, observed)))
    # A uniform pick (ignoring rates) would be far off: the 16/day people get 40x the 0.4/day ones.
    by_habit = np.bincount([habit_of[i] for i in picks], minlength=len(RATES)) / n
    per_habit_p = [sum(p for i, p in zip(members, expected_p) if habit_of[i] == h) for h in range(len(RATES))]
    np.testing.assert_allclose(by_habit, per_habit_p, atol=0.01)  # > 5 binomial s.e. (s.e. <= 0.0016)


def test_pick_never_returns_someone_removed_even_when_a_habit_is_emptied():
    pool = SearchPool(RATES)
    for i in range(6):
        pool.add(i, 0)  # the high-rate habit ...
    pool.add(100, 3)
    for i in range(6):
        pool.remove(i)  # ... emptied: only the 0.4/day person is left
    rng = np.random.default_rng(5)
    assert {pool.pick(rng) for _ in range(2000)} == {100}


def test_model_never_adds_someone_already_searching(monkeypatch):
    """SearchPool.add does not check membership (a second add would list a person twice and
    keep them pickable after removal); the model must never add a person already in the pool."""
    from conftest import SCALED_FLEETS, short_scenario

    import sim

    original = SearchPool.add
    adds = []

    def checked_add(self, i, habit):
        assert i not in self, f"person {i} added to the search pool twice"
        adds.append(i)
        original(self, i, habit)

    monkeypatch.setattr(SearchPool, "add", checked_add)
    sc = short_scenario(
        "baseline",
        *SCALED_FLEETS,
        "run.days=40",
        "run.warmup_days=10",
        "policy.defences.otp.enabled=true",
        "policy.defences.ip_blocking.enabled=true",
        "timeline=[{day: 20, scheme: {kind: random_allocation, enrolled_segments: [first_time]}}]",
    )
    sim.run(sc, seed=3)
    assert len(adds) > 100  # the check did run
