"""slotsim for policy makers: compare visa-appointment allocation schemes on the same demand.

    streamlit run app.py

The page has no side effects at import beyond drawing itself; the simulations run one after another
in this process (sim.run, the run contract), results are kept in st.session_state and in a small
process-wide cache keyed on (scenario digest, schemes, seed, replications). All logic that does not
draw lives in sim/app_support.py, where the tests use it directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")

import streamlit as st  # noqa: E402

from sim import app_support as A  # noqa: E402
from sim.errors import SlotsimError  # noqa: E402
from sim.presets import DESCRIPTIONS, PRESETS  # noqa: E402
from sim.scenario import SEGMENTS, ScenarioError  # noqa: E402

st.set_page_config(page_title="slotsim: visa appointment schemes compared", page_icon="🗓️", layout="wide")

SECONDS_PER_RUN_DAY = 0.07  # one baseline-size scheme-day on this kind of machine (for the time estimate)


@st.cache_resource(show_spinner=False)
def shipped():
    return A.shipped_scenarios()


@st.cache_resource(show_spinner=False)
def result_store():
    """Process-wide cache of finished comparisons, at most 6, the least recently used dropped first."""
    return OrderedDict(), threading.Lock()


def store_get(key):
    store, lock = result_store()
    with lock:
        if key in store:
            store.move_to_end(key)
            return store[key]
    return None


def store_put(key, value):
    store, lock = result_store()
    with lock:
        store[key] = value
        while len(store) > 6:
            store.popitem(last=False)


def show_errors(title: str, err: SlotsimError, where=st):
    where.error(title + "\n\n" + "\n".join(f"- `{m}`" for m in err.messages))


# --------------------------------------------------------------------------- page head

st.title("Visa appointments: which allocation scheme keeps bots and resellers out?")
st.markdown(
    "This tool simulates a visa centre's appointment booking, day by day, with real applicants, bots "
    "and resellers. It runs **several allocation schemes on exactly the same applicants** and shows who "
    "got the appointments, how long people waited and how much money went to resellers. "
    "Choose a starting situation and adjust it on the left, then press **Run the comparison**."
)

scenarios = shipped()

# --------------------------------------------------------------------------- 1. starting point

sb = st.sidebar
st.subheader("1. Starting point")
pick_col, upload_col = st.columns([3, 2])
choice = pick_col.selectbox(
    "Situation to start from",
    list(scenarios),
    key="base_choice",
    format_func=lambda f: scenarios[f].description,
    help="The shipped scenarios of slotsim, described in one sentence each.",
)
upload = upload_col.file_uploader(
    "…or upload a scenario file (YAML)",
    type=["yaml", "yml"],
    key="upload",
    help="A scenario file as `slotsim run` reads it, for example one exported "
    "by this app. It replaces the choice on the left while it is loaded.",
)

base, base_id, upload_error = A.for_app(scenarios[choice]), f"file:{choice}", None
upload_label = A.upload_label(upload.name) if upload is not None else ""  # the browser's name: shown, never a path
if upload is not None:
    try:
        base = A.parse_upload(upload.name, upload.getvalue())
        base_id = f"upload:{upload_label}:{base.digest()}"
    except ScenarioError as e:
        upload_error = e
if upload_error is not None:
    show_errors(
        f"Your file `{upload_label}` cannot be used; the app goes on with the situation chosen on "
        f"the left. What to fix:",
        upload_error,
    )
elif upload is not None:
    st.success(f"Using your file: {base.description or base.name}")

if st.session_state.get("base_id") != base_id:
    # A new starting point: every widget shows its values (set before the widgets are drawn).
    fitted, clamped = A.fit_widgets(A.widget_defaults(base))
    st.session_state.update(fitted)
    st.session_state["clamped"] = clamped
    st.session_state["own"] = bool(base.timeline)
    st.session_state["base_id"] = base_id
st.session_state.setdefault("schemes", list(PRESETS))
st.session_state.setdefault("replications", 1)
st.session_state.setdefault("fair_days", 14)

if st.session_state.get("clamped"):
    st.warning(
        "Some values of this scenario lie outside what the app can edit and were brought within "
        "its bounds: " + ", ".join(A.PARAMS[k].label if k in A.PARAMS else k for k in st.session_state.clamped) + "."
    )
notes = []
if base_id.startswith("file:") and scenarios[choice].run.days > base.run.days:
    notes.append(
        f"Shipped scenarios start here at **{base.run.days} simulated days** instead of the file's "
        f"{scenarios[choice].run.days}, so that comparing all {len(PRESETS)} schemes takes about a "
        f"minute; change *Simulated days* on the left for the full length."
    )
if base.timeline:
    notes.append("This scenario changes policy during the run: " + A.timeline_text(base) + ".")
notes.append("Adjust the situation in the panel on the left; the question-mark icons give units and sources.")
st.caption(" ".join(notes))


# --------------------------------------------------------------------------- 2. parameters


def number(container, key: str, disabled: bool = False):
    p = A.PARAMS[key]
    kind = int if p.integer else float
    return container.number_input(
        p.label,
        min_value=kind(p.min),
        max_value=kind(p.max),
        step=kind(p.step),
        key=key,
        help=p.help,
        disabled=disabled,
    )


def slider(container, key: str, disabled: bool = False):
    p = A.PARAMS[key]
    return container.slider(
        p.label,
        min_value=float(p.min),
        max_value=float(p.max),
        step=float(p.step),
        key=key,
        help=p.help,
        disabled=disabled,
    )


sb.header("2. Adjust the situation")
sb.caption("Every change applies to all the schemes compared.")
with sb.expander("Centre and demand", expanded=True):
    number(st, "capacity")
    number(st, "applicants_per_year")
with sb.expander("Season and length of the run", expanded=True):
    st.date_input(
        "First simulated day",
        key="start_date",
        help=A.sentence(
            A.field_help("run.start_date"), "Demand follows the month: the summer (June-August) is the peak."
        ),
        min_value=A.DATE_MIN,
        max_value=A.DATE_MAX,
    )
    number(st, "days")
    number(st, "warmup_days")
with sb.expander("Bots and resellers"):
    no_bots = not base.resellers
    if no_bots:
        st.caption("This scenario has no bots or resellers: these settings have no effect.")
    else:
        st.caption(
            "Fleets in the scenario: "
            + "; ".join(
                f"{r.name}: {r.bots} bots polling every {r.poll_interval_s:g} s, {r.mode.replace('_', ' ')}, "
                f"EUR {r.price_eur:g}"
                for r in base.resellers
            )
        )
    slider(st, "bots_scale", no_bots)
    slider(st, "poll_factor", no_bots)
    st.selectbox(
        "How resellers work",
        list(A.MODES),
        key="reseller_mode",
        format_func=A.MODES.get,
        disabled=no_bots,
        help=A.sentence(A.field_help("resellers.mode")),
    )
    slider(st, "price_factor", no_bots)
    st.toggle(
        "Resellers adapt their fleet to profit",
        key="adaptive",
        disabled=no_bots,
        help=A.sentence(A.field_help("resellers.adaptive"), "Off: every fleet keeps its size whatever it earns."),
    )
with sb.expander("Your scenario's own scheme and defences"):
    st.caption(
        "These settings define the column **Your scenario as edited**. The schemes compared "
        "switch their own defences on; their settings (draw cadence, deadline, batches) come "
        "from here."
    )
    st.selectbox(
        "Allocation scheme",
        list(A.SCHEME_KINDS),
        key="scheme_kind",
        format_func=A.SCHEME_KINDS.get,
        help=A.sentence(A.field_help("policy.scheme.kind"))
        + " "
        + " ".join(f"{A.SCHEME_KINDS[k]}: {DESCRIPTIONS[k]}" for k in A.SCHEME_KINDS),
    )
    for k, label in A.DEFENCES.items():
        st.toggle(label, key=f"def_{k}", help=A.defence_help(base, k))
    number(st, "batches_per_day")
    number(st, "window_hours")
    number(st, "draw_interval_days")
    number(st, "payment_deadline_hours")
    st.multiselect(
        "Segments served by the draw (random allocation)",
        list(SEGMENTS),
        key="enrolled_segments",
        format_func=A.SEGMENT_LABELS.get,
        help=A.sentence(
            A.field_help("policy.scheme.enrolled_segments"),
            "The random-allocation scheme compared below enrols all segments.",
        ),
    )

values = {k: st.session_state[k] for k in A.widget_defaults(base)}
try:
    edited = A.build_scenario(base, values)
    edit_error = None
except ScenarioError as e:
    edited, edit_error = None, e
    show_errors("These settings do not make a valid scenario:", e)

# --------------------------------------------------------------------------- 3. comparison

st.subheader("3. Compare schemes on the same applicants")
schemes_col, reps_col, seed_col = st.columns([6, 1, 1])
schemes_col.multiselect(
    "Schemes to compare",
    list(PRESETS),
    key="schemes",
    format_func=A.LABELS.get,
    help="Each scheme is applied to the situation on the left; see *What the schemes are* at the bottom of the page.",
)
number(reps_col, "replications")
number(seed_col, "seed")
st.checkbox("Also run your scenario as edited (its own scheme, defences and policy switches)", key="own")

n_variants = len(st.session_state.schemes) + bool(st.session_state.own)
n_runs = n_variants * int(st.session_state.replications)
key = None
button_col, estimate_col = st.columns([1, 3], vertical_alignment="center")
if edited is not None and n_variants:
    key = A.comparison_key(
        edited, st.session_state.schemes, st.session_state.own, edited.run.seed, st.session_state.replications
    )
    est = n_runs * edited.run.days * max(edited.demand.applicants_per_year, 1_000) / 220_000 * SECONDS_PER_RUN_DAY
    estimate_col.caption(
        f"{n_runs} simulation(s), run one after another: about {max(est, 1):.0f} s "
        f"(fewer days, schemes or replications run faster)."
    )
elif n_variants == 0:
    estimate_col.warning("Choose at least one scheme to compare.")
run_clicked = button_col.button("Run the comparison", type="primary", key="run", disabled=key is None, width="stretch")

if run_clicked and key is not None:
    cached = store_get(key)
    if cached is None:
        bar = st.progress(0.0, text="Starting…")

        def progress(done, total, variant, rep):
            if done < total:
                bar.progress(
                    done / total,
                    text=f"Simulating **{A.LABELS.get(variant, variant)}**, replication "
                    f"{rep + 1} of {st.session_state.replications} (run {done + 1} of {total})",
                )

        try:
            variants = A.variants_for(edited, st.session_state.schemes, st.session_state.own)
            cached = A.run_comparison(variants, edited.run.seed, int(st.session_state.replications), progress, key)
        except SlotsimError as e:  # input the simulator refuses (a scenario too large, a bad value)
            show_errors("The comparison cannot run with these settings:", e)
        else:
            store_put(key, cached)
        bar.empty()
    if cached is not None:
        st.session_state["comparison"] = cached
        st.session_state["charts"] = {}

# What the exports and the tests read: the edited scenario as YAML.
if edited is not None:
    st.session_state["scenario_yaml"] = A.yaml_bytes(edited).decode()

# --------------------------------------------------------------------------- results

c = st.session_state.get("comparison")


def chart_png(name: str, build, *args) -> bytes:
    """PNG of one chart, drawn once per comparison and option (chart options do not rerun anything)."""
    charts = st.session_state.setdefault("charts", {})
    k = (c.key, name, args)
    if k not in charts:
        charts[k] = A.png_bytes(build(c, *args))
    return charts[k]


def chart(title: str, name: str, build, *args, caption: str = ""):
    png = chart_png(name, build, *args)
    st.image(png, width="stretch")
    text_col, button_col = st.columns([4, 1], vertical_alignment="center")
    text_col.caption(caption)
    button_col.download_button(
        "Chart (PNG)",
        png,
        file_name=f"slotsim_{name.split('_')[0]}.png",
        mime="image/png",
        key=f"png_{name.split('_')[0]}",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
        help=f"Download “{title}” as a PNG image.",
    )


if c is None:
    st.info(
        "No results yet: press **Run the comparison**. "
        f"The default compares all {len(PRESETS)} schemes once (about a minute)."
    )
else:
    if key != c.key:
        st.warning(
            "The settings have changed since these results were computed: press **Run the comparison** "
            "to update them. The results below are for the earlier settings."
        )
    st.header("The answer")
    st.markdown(A.headline(c))
    st.caption(A.caveat(c) + f" Computed in {c.seconds:.0f} s; seed {c.seed}.")
    table = A.display_table(c)
    if c.replications == 1:
        table = table.style.format(
            {title: ("€ {:,.0f}" if unit == "EUR" else "{:.1f}") for title, _, unit in A.MEASURES.values()},
            na_rep="n/a",
        )
    st.table(table)
    st.caption(" ".join(f"**{title}**: {A.MEASURE_HELP[m]}" for m, (title, _, _) in A.MEASURES.items()))

    st.header("Why: the details")
    chart(
        "What happened to the slots",
        "outcomes",
        A.fig_outcomes,
        caption="Every released slot ends in exactly one of these outcomes (measured days only).",
    )
    chart(
        "Waiting times",
        "waits",
        A.fig_waits,
        caption="Each curve: the share of served applicants who had their appointment within the number "
        "of days on the horizontal axis, counted from the day they needed one.",
    )
    chart(
        "Bot activity and prices",
        "activity",
        A.fig_activity,
        caption="Mean over replications"
        + (" (the band spans the lowest and highest replication)" if c.replications > 1 else "")
        + ". A dashed line marks a policy switch of a timeline; the grey band is the warm-up, left out of "
        "the table. Prices: one point per week with at least one sale; with few sales a price is noisy.",
    )
    days = st.slider(
        "Fairness: share served within how many days?",
        1,
        90,
        key="fair_days",
        help="Changing this redraws the chart from the stored results; nothing is re-run.",
    )
    chart(
        "Fairness",
        f"fairness_{days}",
        A.fig_fairness,
        int(days),
        caption="Does checking the site often beat checking it rarely? Bars are the share of all applicants "
        "(served or not) who got an appointment within the chosen number of days."
        + (" Whiskers: 95% confidence intervals." if c.replications > 1 else ""),
    )

    st.header("Downloads")
    d1, d2, d3, d4 = st.columns([3, 2, 3, 2], vertical_alignment="bottom")
    if edited is not None:
        d1.download_button(
            "Scenario as edited (YAML)",
            A.yaml_bytes(edited),
            file_name=f"{edited.name}.yaml",
            mime="application/x-yaml",
            key="dl_yaml",
            on_click="ignore",
            width="stretch",
            icon=":material/download:",
            help="Runs with `slotsim run FILE.yaml --json`, and is accepted by the upload above.",
        )
    d2.download_button(
        "Results (CSV)",
        A.results_csv(c),
        file_name="slotsim_comparison.csv",
        mime="text/csv",
        key="dl_csv",
        on_click="ignore",
        width="stretch",
        icon=":material/download:",
        help="Every measure of every scheme and replication, one row each (as `slotsim compare --out` writes).",
    )
    pick = d3.selectbox("Scenario of one compared scheme", list(c.variants), format_func=c.label, key="dl_variant")
    d4.download_button(
        "That scheme (YAML)",
        A.yaml_bytes(c.variants[pick]),
        file_name=f"{pick}.yaml",
        mime="application/x-yaml",
        key="dl_variant_yaml",
        on_click="ignore",
        width="stretch",
        icon=":material/download:",
        help=f"`slotsim run {pick}.yaml --seed {c.seed} --json` reproduces replication 1 of this column.",
    )

    with st.expander("All measures (means over replications)"):
        from sim.compare import summarise

        full = summarise(c.metrics)
        full.columns = [f"{c.label(v)} ({stat})" for v, stat in full.columns]
        st.dataframe(full, key="all_measures")

# --------------------------------------------------------------------------- explanations

with st.expander("What the schemes are"):
    for name, text in DESCRIPTIONS.items():
        st.markdown(f"- **{A.LABELS[name]}** — {text}")
    st.markdown(
        f"- **{A.LABELS[A.OWN]}** — the situation on the left with its own scheme, defences and policy "
        "switches (the schemes above replace these with their own and drop any switch)."
    )

with st.expander("What the model assumes"):
    st.markdown("""
- **Applicants** arrive day by day (more in the summer), each with a segment (first-time, renewal,
  circulation), a travel date that sets the latest useful appointment, a habit of checking the booking
  site (from a few times a week to hourly), a patience after which they consider buying from a reseller,
  and a price they would pay. Someone not served before the travel date gives up.
- **The centre** offers a fixed number of appointments per working day and releases each day's slots a
  fixed number of days ahead. People who booked directly miss some appointments (no-shows).
- **Bots** belong to resellers: they check the site every few seconds and book within seconds. Defences
  cost them money and time (CAPTCHA solving, rented phone numbers, proxies) or stop them (identity checks).
- **Resellers** book under placeholder names and sell the appointments (*speculative*), or book for paying
  clients (*to order*); they set prices from demand and grow or shrink their fleets with profit.
  Unsold appointments are wasted.
- **Random allocation**: people register; each draw gives free slots to registrants at random; a winner
  pays the fee within a deadline or the slot passes to the waiting list. Duplicate registrations are
  caught with some probability.
- **Same applicants everywhere**: every scheme faces the same people (the same seed), so the differences
  come from the schemes alone. The first days (*warm-up*) are left out of the results while queues fill.
- Numbers are estimates from a model: use them to compare schemes, not as forecasts of a given centre.
""")

with st.expander("Where the default values come from"):
    st.caption(
        "Every parameter of a scenario, its default and its source; [EST] marks an estimate, not a "
        "measurement. The shipped scenarios cite their sources in comments."
    )
    st.dataframe(A.schema_sources(), hide_index=True, key="sources")
