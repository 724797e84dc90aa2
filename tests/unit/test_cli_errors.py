"""The command line's error contract: every domain error the library raises reaches the user as
exit status 2 with its message, one line per message, and no traceback; Ctrl-C is 130; an import
that fails fails `slotsim`, instead of quietly dropping a command."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, SCENARIO_FILES, SHORT

import sim
import sim.cli
from sim.compare import build_variants
from sim.errors import InputError, ScenarioError, SlotsimError
from sim.experiments import load_experiment
from sim.regress import load_suite, resolve
from sim.report import make_report

BASELINE = str(SCENARIO_FILES["baseline"])
SUITE = REPO / "scenarios" / "regression.yaml"


def _bench_module():
    sys.path.insert(0, str(sim.cli.BENCHMARK.parent))
    return importlib.import_module("bench")  # benchmarks/bench.py, as `slotsim bench` imports it


# Each case: the command line, and the library call behind it that raises the domain error.
def bad_scenario_path(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    return ["run", missing], lambda: sim.load_scenario(missing)


def bad_set(tmp_path):
    return (
        ["run", BASELINE, "--set", "centre.capacity=5", "--set", "run.days=abc"],
        lambda: sim.load_scenario(BASELINE, ["centre.capacity=5", "run.days=abc"]),
    )


def bad_experiment_file(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text(f"name: bad\nbase: {BASELINE}\nreplicatons: 3\nseed: -1\n")
    return ["batch", str(f), "--dry-run"], lambda: load_experiment(f)


def report_of_a_non_results_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    folder = tmp_path / "empty"
    return ["report", str(folder)], lambda: make_report(folder)


def regress_only_unknown(tmp_path):
    return (
        ["regress", "--suite", str(SUITE), "--only", "nosuch", "--only", "nothing"],
        lambda: resolve(load_suite(SUITE), SUITE, ["nosuch", "nothing"], []),
    )


def compare_unknown_preset(tmp_path):
    return (
        ["compare", "--base", BASELINE, "--presets", "nosuch,first_come,other"],
        lambda: build_variants([], BASELINE, ["nosuch", "first_come", "other"], []),
    )


def bench_bad_parts(tmp_path):
    args = argparse.Namespace(out=None, parts="bare,nosuch")
    return ["bench", "--parts", "bare,nosuch"], lambda: _bench_module().cmd_bench(args)


CASES = [
    bad_scenario_path,
    bad_set,
    bad_experiment_file,
    report_of_a_non_results_folder,
    regress_only_unknown,
    compare_unknown_preset,
    bench_bad_parts,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_domain_errors_exit_2_with_their_message_one_line_each(case, tmp_path, capsys):
    argv, library_call = case(tmp_path)
    with pytest.raises(SlotsimError) as info:
        library_call()
    error = info.value
    assert isinstance(error, (ScenarioError, InputError))
    capsys.readouterr()

    code = sim.cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines == str(error).splitlines()
    assert len(lines) == len(error.messages)


def test_ctrl_c_exits_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim, "run", interrupted)
    args = [a for item in SHORT for a in ("--set", item)]
    assert sim.cli.main(["run", BASELINE, *args]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_domain_errors_survive_a_worker_process():
    import pickle

    for error in (ScenarioError(["a.b: wrong", "c: missing"], "x.yaml"), InputError("one", "two")):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error)
        assert back.messages == error.messages and str(back) == str(error)


# --------------------------------------------------------------------------- no swallowed import errors


@pytest.mark.parametrize("module", [m.__name__ for m in importlib.import_module("sim.cli.main").COMMANDS])
def test_a_command_module_that_fails_fails_the_parser(module, monkeypatch):
    def broken(sub):
        raise ImportError(f"simulated: a dependency of {module} is missing")

    monkeypatch.setattr(sys.modules[module], "add_parsers", broken)
    with pytest.raises(ImportError, match="simulated"):
        sim.cli.build_parser()


# In a fresh interpreter, each module made unimportable in turn: `import sim.cli` must raise,
# naming it, and never build a parser without the command.
UNIMPORTABLE = [
    "sim.compare",
    "sim.experiments",
    "sim.regress",
    "sim.report",
    "sim.cli.run",
    "sim.cli.bench",
    "sim.cli.compare",
    "sim.cli.batch",
    "sim.cli.report",
    "sim.cli.regress",
]
PROBE = textwrap.dedent("""
    import json, sys
    outcome = {}
    for name in sys.argv[1:]:
        for m in [m for m in sys.modules if m == "sim" or m.startswith("sim.")]:
            del sys.modules[m]
        sys.modules[name] = None
        try:
            import sim.cli
            parser = sim.cli.build_parser()
            outcome[name] = "built a parser: " + parser.format_usage()
        except ImportError as e:
            outcome[name] = e.name
        del sys.modules[name]
    print(json.dumps(outcome))
""")


@pytest.fixture(scope="module")
def import_failures():
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *UNIMPORTABLE], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("module", UNIMPORTABLE)
def test_an_unimportable_module_fails_slotsim(module, import_failures):
    assert import_failures[module] == module


def test_the_library_does_not_import_the_command_line():
    code = (
        "import sys, sim.compare, sim.experiments, sim.regress, sim.report, sim.app_support; "
        "print(sorted(m for m in sys.modules if m.startswith('sim.cli')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_python_dash_m_runs_the_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"{tmp_path / 'nope.yaml'}: file not found"
    assert Path(sim.cli.BENCHMARK).is_file()
