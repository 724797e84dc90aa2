"""Resellers against the rules docs/model.md 4.5 states: fleet reviews, daily prices, draw tickets,
the requests a provider sees, capacity and quota. Each expectation is worked from the documented
rule with hand-chosen numbers, on a model that is built but not run (so that nothing else moves)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.model import Model
from sim.model.resellers import SPECULATIVE, TARGET_UTILISATION, TO_ORDER, Reseller
from sim.presets import apply_preset

BASE = "scenarios/baseline_fcfs.yaml"
SMALL = ["run.days=30", "run.warmup_days=5", "centre.capacity_per_day=100", "demand.applicants_per_year=20000"]


def built(*overrides: str) -> Model:
    """A model of the small baseline, built (population drawn) but not run."""
    return Model(sim.load_scenario(BASE, [*SMALL, *overrides]), seed=1)


def period(r: Reseller, *, booked: int, sold: int, quota: float, revenue: float, cost: float) -> None:
    r.period_booked, r.period_sold, r.period_quota = booked, sold, quota
    r.period_revenue, r.period_cost = revenue, cost


# --------------------------------------------------------------------------- fleet reviews


def test_a_speculative_fleet_scales_by_the_smaller_of_utilisation_and_sell_through():
    m = built("resellers.0.growth_rate=0.5", "resellers.0.target_sell_through=0.75")
    r = m.resellers[0]
    r.bots = 100.0
    # utilisation 72/100 = 0.72 -> 0.72/0.8 = 0.9; sell-through 54/72 = 0.75 -> 0.75/0.75 = 1.0
    period(r, booked=72, sold=54, quota=100.0, revenue=5000.0, cost=1000.0)
    m.resellers._review(r, 7)
    assert r.bots == pytest.approx(90.0)
    # the period starts afresh
    assert (r.period_booked, r.period_sold, r.period_quota, r.period_revenue, r.period_cost) == (0, 0, 0.0, 0.0, 0.0)


def test_a_speculative_fleet_that_sells_little_shrinks_by_its_sell_through():
    m = built("resellers.0.growth_rate=0.5", "resellers.0.target_sell_through=0.8")
    r = m.resellers[0]
    r.bots = 100.0
    # utilisation 0.96/0.8 = 1.2; sell-through 48/96 = 0.5 -> 0.5/0.8 = 0.625: the smaller wins
    period(r, booked=96, sold=48, quota=100.0, revenue=5000.0, cost=1000.0)
    m.resellers._review(r, 7)
    assert r.bots == pytest.approx(62.5)


def test_growth_is_limited_to_growth_rate_both_ways():
    m = built("resellers.0.growth_rate=0.2", "resellers.0.target_sell_through=0.5")
    r = m.resellers[0]
    r.bots = 100.0
    period(r, booked=100, sold=100, quota=100.0, revenue=5000.0, cost=10.0)  # factor min(1.25, 2) = 1.25
    m.resellers._review(r, 7)
    assert r.bots == pytest.approx(120.0)
    period(r, booked=10, sold=10, quota=100.0, revenue=5000.0, cost=10.0)  # factor 0.125
    m.resellers._review(r, 14)
    assert r.bots == pytest.approx(96.0)  # 120 x (1 - 0.2)


def test_after_a_loss_the_fleet_shrinks_even_when_busy():
    m = built("resellers.0.growth_rate=0.25", "resellers.0.target_sell_through=0.5")
    r = m.resellers[0]
    r.bots = 100.0
    period(r, booked=100, sold=100, quota=100.0, revenue=100.0, cost=100.01)  # factor 1.25, but a loss
    m.resellers._review(r, 7)
    assert r.bots == pytest.approx(75.0)
    # break-even is not a loss
    r.bots = 100.0
    period(r, booked=100, sold=100, quota=100.0, revenue=100.0, cost=100.0)
    m.resellers._review(r, 14)
    assert r.bots == pytest.approx(125.0)


def test_the_fleet_is_capped_at_max_bots_and_exits_below_one_bot():
    m = built("resellers.0.growth_rate=0.5", "resellers.0.max_bots=110", "resellers.0.target_sell_through=0.5")
    r = m.resellers[0]
    r.bots = 100.0
    period(r, booked=100, sold=100, quota=100.0, revenue=1.0, cost=0.0)
    m.resellers._review(r, 7)
    assert r.bots == 110.0
    r.bots = 1.5
    period(r, booked=0, sold=0, quota=100.0, revenue=0.0, cost=1.0)  # x 0.5 -> 0.75 < 1: gone
    m.resellers._review(r, 14)
    assert r.bots == 0.0 and not r.active


def test_a_to_order_fleet_scales_to_its_bookings_and_open_orders():
    m = built("resellers.3.growth_rate=0.5")
    r = m.resellers[3]
    assert r.strategy is TO_ORDER
    r.bots = 40.0
    waiting = [0, 1, 2, 3, 4, 5]  # nobody has arrived: everyone is still waiting
    r.orders = list(waiting)
    # (booked + open orders) / (0.8 x capacity) = (30 + 6) / (0.8 x 40) = 1.125
    period(r, booked=30, sold=30, quota=40.0, revenue=10.0, cost=1.0)
    m.resellers._review(r, 7)
    assert r.bots == pytest.approx(45.0)
    # without release days in the period there is nothing to book for: the largest cut
    period(r, booked=0, sold=0, quota=0.0, revenue=10.0, cost=1.0)
    m.resellers._review(r, 14)
    assert r.bots == pytest.approx(22.5)


def test_orders_of_people_no_longer_waiting_do_not_count_at_review():
    m = built("resellers.3.growth_rate=0.5")
    r = m.resellers[3]
    r.bots = 40.0
    r.orders = [0, 1, 2, 3]
    m.applicants.st[0] = m.applicants.st[1] = 1  # served meanwhile
    period(r, booked=30, sold=30, quota=40.0, revenue=10.0, cost=1.0)  # (30 + 2) / 32 = 1.0
    m.resellers._review(r, 7)
    assert r.bots == pytest.approx(40.0)


def test_a_speculative_fleet_switches_to_order_when_stock_can_no_longer_be_renamed():
    m = built("policy.defences.identity_binding.enabled=true")
    r = m.resellers[0]
    r.bots = 100.0
    r.inventory[0].append((20, 0))
    period(r, booked=50, sold=0, quota=100.0, revenue=0.0, cost=500.0)
    m.resellers._review(r, 7)
    assert r.strategy is TO_ORDER and r.mode == "to_order" and r.mode_switch_day == 7
    assert r.bots == 100.0 and r.held() == 0  # the switch is the whole review
    review = m.resellers.reviews[-1]
    assert review == dict(
        day=7,
        reseller="fast_officine",
        mode="to_order",
        bots_before=100.0,
        bots=100.0,
        profit_eur=-500.0,
        booked=50,
        sold=0,
        price_eur=r.price,
    )


def test_only_adaptive_active_fleets_are_reviewed_and_only_on_review_days():
    m = built("resellers.0.adaptive=false", "resellers.1.review_days=3", "resellers.2.bots=0")
    reviewed = lambda: [rv["reseller"] for rv in m.resellers.reviews]  # noqa: E731
    m.resellers.start_day(0, releases_today=True)
    assert reviewed() == []  # never on day 0
    m.resellers.start_day(3, releases_today=True)
    assert reviewed() == ["officine_b"]
    m.resellers.start_day(7, releases_today=True)
    assert reviewed() == ["officine_b", "agency"]  # not fast_officine (fixed), not officine_c (no bots)


def test_each_morning_active_fleets_pay_for_their_bots_and_count_their_booking_capacity():
    m = built(
        "resellers.0.cost_per_bot_day_eur=0.5", "resellers.0.bookings_per_bot_per_release=2", "resellers.2.bots=0"
    )
    r, gone = m.resellers[0], m.resellers[2]
    r.bots = 10.7
    m.resellers.start_day(1, releases_today=True)
    assert r.cost == pytest.approx(10.7 * 0.5) and r.period_quota == 21  # int(10.7 x 2)
    m.resellers.start_day(2, releases_today=False)
    assert r.cost == pytest.approx(2 * 10.7 * 0.5) and r.period_quota == 21
    assert gone.cost == 0.0 and gone.period_quota == 0.0


# --------------------------------------------------------------------------- prices


def test_the_price_follows_excess_demand_through_tanh_and_stays_in_its_bounds():
    m = built(
        "resellers.0.price_elasticity=0.1",
        "resellers.0.price_eur=200",
        "resellers.0.bots=10",
        "resellers.0.bookings_per_bot_per_release=1",
    )
    r = m.resellers[0]
    r.sold_yesterday, r.unsold_yesterday = 30, 2
    # nobody has arrived: no buyers. demand = 30 sold yesterday; supply = min(10, 100) = 10
    # excess = (30 - 10 - 5 x 2) / 100 = 0.1
    m.resellers._update_prices()
    assert r.price == pytest.approx(200 * (1 + 0.1 * math.tanh(0.1)))
    assert r.sold_yesterday == 0 and r.unsold_yesterday == 0
    # unsold stock pushes it down; the floor holds
    r.price, r.unsold_yesterday = 16.0, 100
    m.resellers._update_prices()
    assert r.price == pytest.approx(max(15.0, 16.0 * (1 + 0.1 * math.tanh((0 - 10 - 500) / 100))))


def test_buyers_who_can_afford_the_price_raise_it():
    m = built(
        "resellers.0.price_elasticity=0.2",
        "resellers.0.price_eur=100",
        "resellers.0.bots=1",
        "resellers.0.bookings_per_bot_per_release=1",
    )
    a = m.applicants
    m.arrivals.start()  # people arrive and wait; no day clock: no slot is released, no price moves
    m.env.run(until=10.5)
    buyers = a.buyers(m.env.now)
    assert len(buyers) > 0
    afford = int(np.count_nonzero(a.wtp[buyers] >= 100.0))
    r = m.resellers[0]
    m.resellers._update_prices()
    excess = (afford - 1) / 100
    assert r.price == pytest.approx(min(1000.0, 100 * (1 + 0.2 * math.tanh(excess))))


# --------------------------------------------------------------------------- capacity, polls, tickets


def test_capacity_quota_and_poll_rate_follow_the_fleet_and_the_defences():
    m = built("resellers.0.bots=20", "resellers.0.bookings_per_bot_per_release=3", "resellers.0.poll_interval_s=2")
    r, fr = m.resellers[0], m.policy.friction
    assert r.capacity(fr) == 60 and r.quota(fr) == 60
    r.booked_today = 45
    assert r.quota(fr) == 15
    assert r.poll_rate(fr) == pytest.approx(20 * 86400 / 2)
    otp = built(
        "resellers.0.bots=20",
        "resellers.0.bookings_per_bot_per_release=3",
        "policy.defences.otp.enabled=true",
        "policy.defences.otp.accounts_per_bot=2",
    )
    assert otp.resellers[0].capacity(otp.policy.friction) == 40
    ip = built(
        "resellers.0.bots=20",
        "resellers.0.poll_interval_s=1",
        "policy.defences.ip_blocking.enabled=true",
        "policy.defences.ip_blocking.proxy_ips=3",
        "policy.defences.ip_blocking.requests_per_ip_per_minute=2",
    )
    r, fr = ip.resellers[0], ip.policy.friction
    assert r.poll_rate(fr) == pytest.approx(3 * 2 * 1440)  # capped all day
    assert r.poll_rate(fr, burst=True) == pytest.approx(20 * 86400)  # not at an announced burst


def test_a_to_order_quota_is_its_open_orders():
    m = built("resellers.3.bots=10", "resellers.3.bookings_per_bot_per_release=2")
    r, fr = m.resellers[3], m.policy.friction
    assert r.quota(fr) == 0
    r.orders = [5, 6, 7]
    assert r.quota(fr) == 3


def test_requests_seen_are_polls_where_booking_exists_and_fake_registrations_where_a_draw_runs():
    m = built(
        "resellers.1.bots=0",
        "resellers.2.bots=0",
        "resellers.3.bots=0",
        "resellers.0.bots=10",
        "resellers.0.poll_interval_s=4",
        "resellers.0.fake_registrations_per_bot=3",
    )
    assert m.resellers.requests_seen() == pytest.approx(10 * 86400 / 4)
    draw = Model(apply_preset(m.sc, "random_allocation"), seed=1)
    share = draw.policy.draw_share
    polls = 10 * 86400 / 4 if share < 1.0 else 0.0
    assert draw.resellers.requests_seen() == pytest.approx(polls + 10 * 3)


def test_speculative_tickets_are_fake_registrations_thinned_by_detection():
    m = built(
        "resellers.0.bots=10",
        "resellers.0.fake_registrations_per_bot=2.5",
        "resellers.1.bots=0",
        "resellers.2.bots=0",
        "resellers.3.bots=0",
    )
    rng = np.random.default_rng(5)
    assert m.resellers.draw_tickets(rng, detection=0.0) == [(-1, 0)] * 25
    assert m.resellers.draw_tickets(rng, detection=1.0) == []
    n = [len(m.resellers.draw_tickets(rng, detection=0.4)) for _ in range(2000)]
    # binomial(25, 0.6): mean 15, sd of the mean sqrt(25 x 0.6 x 0.4 / 2000) ~ 0.055; 5 sd
    assert abs(np.mean(n) - 15.0) < 0.28


def test_to_order_tickets_are_duplicates_for_waiting_clients_of_the_draw_only():
    sc = apply_preset(
        sim.load_scenario(
            BASE,
            [
                *SMALL,
                "resellers.0.bots=0",
                "resellers.1.bots=0",
                "resellers.2.bots=0",
                "resellers.3.duplicates_per_client=2",
            ],
        ),
        "random_allocation",
    )
    m = Model(sc, seed=1)
    a = m.applicants
    enrolled = m.policy.enrolled
    draw_people = [i for i in range(200) if a.segment[i] in enrolled][:3]
    other = [i for i in range(200) if a.segment[i] not in enrolled][:2]
    r = m.resellers[3]
    r.orders = draw_people + other
    a.st[draw_people[0]] = 1  # served meanwhile: no more tickets
    rng = np.random.default_rng(9)
    owners = [t[0] for _ in range(500) for t in m.resellers.draw_tickets(rng, detection=0.0)]
    assert set(owners) == set(draw_people[1:])
    assert all(t[1] == 3 for t in m.resellers.draw_tickets(rng, detection=0.0))
    # Poisson(2) per client per draw: 2 clients x 500 draws x 2 = 2000 expected, sd ~ 45
    assert abs(len(owners) - 2000) < 5 * math.sqrt(2000)
    assert m.resellers.draw_tickets(rng, detection=1.0) == []


def test_strategies_are_objects_not_names():
    m = built()
    assert [r.strategy for r in m.resellers] == [SPECULATIVE, SPECULATIVE, SPECULATIVE, TO_ORDER]
    assert TARGET_UTILISATION == 0.8  # the documented target


def test_a_to_order_book_holds_a_week_of_bookings_at_most():
    """Open orders are capped at 7 x int(bots x bookings_per_bot_per_release) (docs/model.md 4.5)."""
    m = built("resellers.3.bots=2", "resellers.3.bookings_per_bot_per_release=3")
    r = m.resellers[3]
    candidates = np.arange(300)  # nobody has arrived yet: all waiting, none served
    m.resellers.take_orders(r, candidates)
    assert len(r.orders) == 42
    assert all(m.resellers.ordered_from[i] == 3 for i in r.orders)
    m.resellers.take_orders(r, candidates)  # full: nothing more, nobody twice
    assert len(r.orders) == 42 and len(set(r.orders)) == 42


def test_unsold_stock_is_counted_for_tomorrows_price():
    m = built()
    m.resellers.unsold(2)
    m.resellers.unsold(2)
    assert [r.unsold_yesterday for r in m.resellers] == [0, 0, 2, 0]


# --------------------------------------------------------------------------- in a run


def run_one_fleet(*overrides: str, seed: int = 2):
    """The small baseline with its first fleet alone (the others emptied)."""
    sc = sim.load_scenario(BASE, [*SMALL, "resellers.1.bots=0", "resellers.2.bots=0", "resellers.3.bots=0", *overrides])
    return sc, sim.run(sc, seed=seed)


def test_a_fleet_books_its_capacity_on_each_release_day_and_no_more():
    """2 bots x 1 booking each: 2 slots a release day, whatever the slots free (docs/model.md 4.4)."""
    sc, res = run_one_fleet(
        "resellers.0.bots=2", "resellers.0.bookings_per_bot_per_release=1", "resellers.0.adaptive=false"
    )
    per_day = res.daily.set_index("day").booked_bot
    release_days = res.daily.set_index("day").released > 0
    assert per_day.max() == 2
    assert (per_day[release_days] == 2).mean() > 0.9  # slots are plentiful against 2 bots


def test_reviews_count_the_bookings_of_their_period():
    sc, res = run_one_fleet("resellers.0.bots=10", "resellers.0.review_days=5")
    reviews = res.reviews[res.reviews.reseller == "fast_officine"]
    assert len(reviews) >= 3
    booked = res.slots[res.slots.reseller == 0].booked_at_day
    edges = [0, *reviews.day.tolist()]
    for (a, b), n in zip(zip(edges, edges[1:]), reviews.booked):
        assert n == int(((booked >= a) & (booked < b)).sum()), (a, b)


def test_under_prepayment_every_slot_a_fleet_books_is_prepaid():
    sc, res = run_one_fleet("resellers.0.bots=10", "policy.defences.prepayment.enabled=true")
    bot = res.slots[res.slots.first_taken_by == "bot"]
    assert len(bot) > 0 and bot.prepaid.all()
    sc, res = run_one_fleet("resellers.0.bots=10")
    bot = res.slots[res.slots.first_taken_by == "bot"]
    assert len(bot) > 0 and not bot.prepaid.any()
