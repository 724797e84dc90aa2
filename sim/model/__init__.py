"""The discrete-event model, one module per mechanism (docs/architecture.md):

kernel       the event loop (the only code touching SimPy's internals)
applicants   applicant state and the arrival source (demand drawn up front)
slots        slot state and how each day's slots settle
first_come   people's checks, fleets' polls and booking attempts
draw         registrations, draws, payment deadlines, the waiting list
resellers    stock, orders, sales, prices, fleet reviews; strategies
day_clock    the centre's calendar: releases, draws, settlement, switches
recording    daily counters, the daily series, and the typed records (sim.records) a run returns
model        the coordinator: builds the mechanisms, routes people, runs
"""

from ..records import Records
from .model import Model, simulate

__all__ = ["Model", "Records", "simulate"]
