#!/usr/bin/env python
"""Fingerprints of every record frame and of the metrics, to prove that a refactor changed no number.

For every entry of the regression suite (replication 0 of its seed) and every shipped
scenario at seed 1, the SHA-256 of each record frame (applicants, slots, daily, reviews,
draws) and of the metrics JSON are computed. Store them before a refactor, compare after:

    python benchmarks/record_hashes.py --write before.json      # on the old commit
    python benchmarks/record_hashes.py --check before.json      # on the new one: exit 1 on any change

A model change is *meant* to change these; a refactor must not. `benchmarks/record_hashes.json`
holds the fingerprints of the committed model (refresh it with --write after a model change).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # fingerprint this checkout's code, whatever `pip install -e` points at
FRAMES = ("applicants", "slots", "daily", "reviews", "draws")


def frame_digest(df: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names, dtypes and values (independent of pandas' file formats)."""
    h = hashlib.sha256()
    h.update(repr(list(map(str, df.columns))).encode())
    for col in df.columns:
        s = df[col]
        h.update(str(s.dtype).encode())
        values = s.to_numpy()
        if values.dtype.kind in "biufcM":
            h.update(np.ascontiguousarray(values).tobytes())
        else:
            h.update("\x1f".join(map(repr, values.tolist())).encode())
    return h.hexdigest()


def metrics_digest(metrics: dict) -> str:
    plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, allow_nan=True).encode()).hexdigest()


def fingerprints(sc, seed: int, replication: int = 0) -> dict[str, str]:
    import sim

    res = sim.run(sc, seed=seed, replication=replication)
    frames = {name: getattr(res.records, name) for name in FRAMES}
    return {**{name: frame_digest(df) for name, df in frames.items()}, "metrics": metrics_digest(res.metrics)}


def cases() -> list[tuple[str, object, int]]:
    """(name, scenario, seed): every regression entry, then every shipped scenario at seed 1."""
    from sim.regress import load_suite, resolve
    from sim.scenario import load_scenario

    suite_path = ROOT / "scenarios" / "regression.yaml"
    out = [(f"regress/{r.name}", r.scenario, r.seed) for r in resolve(load_suite(suite_path), suite_path, [], [])]
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        if path.name != "regression.yaml":
            out.append((f"scenario/{path.stem}", load_scenario(path), 1))
    return out


def compute(progress=True) -> dict[str, dict[str, str]]:
    out = {}
    for name, sc, seed in cases():
        out[name] = fingerprints(sc, seed)
        if progress:
            print(f"{name}: {out[name]['metrics'][:12]}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", metavar="FILE.json", help="store the fingerprints")
    g.add_argument("--check", metavar="FILE.json", help="compare with stored fingerprints (exit 1 on a change)")
    args = p.parse_args(argv)
    now = compute()
    if args.write:
        Path(args.write).write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"{len(now)} cases, {sum(len(v) for v in now.values())} fingerprints written to {args.write}")
        return 0
    before = json.loads(Path(args.check).read_text())
    changed = [
        f"{case}.{what}"
        for case in sorted(set(before) | set(now))
        for what in sorted(set(before.get(case, {})) | set(now.get(case, {})))
        if before.get(case, {}).get(what) != now.get(case, {}).get(what)
    ]
    n = sum(len(v) for v in now.values())
    if changed:
        print(f"{len(changed)} of {n} fingerprints changed:\n  " + "\n  ".join(changed))
        return 1
    print(f"all {n} fingerprints identical ({len(now)} cases: record frames {', '.join(FRAMES)} and metrics)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
