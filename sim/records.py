"""The typed records of one run: the contract between the model and everything that reads it.

A run returns `Records`: one frame per kind of entity (applicants, slots), the
daily series, the fleets' reviews, the draws and the resellers' totals, plus the
few run-level facts the metrics need. The vocabularies below are the labels the
frames use. `sim.metrics`, the reports and the app read records, never the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .scenario import Scenario

# applicant status: how a person's story ends ("waiting" until it does)
STATUSES = ("waiting", "served_direct", "served_via_reseller", "abandoned")
# slot pools, who first took a slot, and slot outcomes ("pending" until its day comes)
POOLS = ("first_come", "draw")
TAKERS = ("nobody", "human", "bot", "draw", "reseller_draw")
OUTCOMES = (
    "pending",
    "attended_direct",
    "attended_via_reseller",
    "wasted_no_show",
    "wasted_unsold",
    "wasted_unbooked",
    "wasted_unpaid",
)
WASTE = tuple(o for o in OUTCOMES if o.startswith("wasted_"))


@dataclass(frozen=True)
class Records:
    """The tidy records of one replication (one row per entity or per day)."""

    scenario: "Scenario"
    seed: int
    replication: int
    applicants: pd.DataFrame  # one row per applicant of the run (arrival order)
    slots: pd.DataFrame  # one row per slot released (release order)
    daily: pd.DataFrame  # one row per simulated day
    reviews: pd.DataFrame  # one row per fleet review
    draws: pd.DataFrame  # one row per draw
    resellers: pd.DataFrame  # one row per reseller: its fleet at the end, its totals over the run
    events_processed: int
    habits: tuple[str, ...] = field(default=())


def labels(names, codes) -> pd.Series:
    """names[codes] as a string column: taking from a column of the few names is ~8x faster than
    converting an array of 200k numpy strings to pandas' string dtype (same values, same dtype)."""
    return pd.Series(list(names), dtype="str").take(np.asarray(codes, dtype=np.int64)).reset_index(drop=True)
