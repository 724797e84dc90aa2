"""Provenance of stored results: the versions of the software and the git state of the checkout.

One copy, used by the experiment manifests (`slotsim batch`) and the regression baselines
(`slotsim regress --update`); each keeps the keys its manifests have always held.
"""

from __future__ import annotations

import importlib
import platform
import subprocess
from pathlib import Path

# What an experiment manifest lists (after python; then the platform).
PACKAGES = ("numpy", "simpy", "pandas", "scipy", "pyarrow")


def versions(packages: tuple[str, ...] = PACKAGES, slotsim: bool = False, with_platform: bool = True) -> dict[str, str]:
    """{"slotsim"?, "python", <package>..., "platform"?}: version strings, in this order."""
    out: dict[str, str] = {}
    if slotsim:
        from . import __version__

        out["slotsim"] = __version__
    out["python"] = platform.python_version()
    for name in packages:
        out[name] = importlib.import_module(name).__version__
    if with_platform:
        out["platform"] = platform.platform()
    return out


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout holding `folder`.

    commit: None when git or the repository is unavailable. dirty: True when tracked files
    have uncommitted changes, False when clean, None when it cannot be told.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None, None
    try:
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        dirty = None
    return commit, dirty
