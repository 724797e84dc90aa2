"""Writing output files safely: a file is complete or absent, a set of files is old or new, never a mix.

- `atomic_path` / `write_text`, `write_json`, `write_csv`, `write_parquet`: one file, written
  beside its target and renamed over it.
- `FileSet`: several files (and folders, such as a report's figures/) staged completely in a
  hidden folder beside their targets, then swapped in together; a failure while staging leaves
  every target as it was. With a *commit record* (a batch's manifest.json, a report's report.md)
  the old record is taken out first and the new one put in last, so a reader that finds the
  record finds the complete set it describes (see `FileSet.commit`).
- `folder_lock`: an exclusive lock on an output folder (`fcntl.flock` on `.slotsim.lock`), so two
  processes never write into one folder at once; the kernel releases it when the process dies,
  so there is no stale lock to clear by hand.
- `check_writable`, `check_file_target`: before a long computation, the reason an output cannot
  be written, if any.

Every OSError met while writing (disk full, permission denied, read-only file system, a folder
where a file is expected) is raised as `WriteError`, an `InputError` naming the output path (never
a temporary name) and the reason, after the temporaries are removed: the command line turns it
into exit status 2 and a one-line message.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .errors import InputError

try:  # POSIX; elsewhere folders are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".slotsim.lock"
STAGE_PREFIX = ".slotsim-tmp-"
UNCHANGED = "nothing was replaced: the previous files are as they were"

Writer = Callable[[Path], None]


class WriteError(InputError):
    """An output that could not be written: `path` (the output's own name), `reason` (the system's
    words), `outcome` (what became of the previous files), further messages in `more`."""

    def __init__(self, path: str | Path, reason: str, outcome: str = "", *more: str):
        self.path = Path(path)
        self.reason = reason
        self.outcome = outcome
        self.more = more
        super().__init__(f"{path}: cannot write ({reason})" + (f"; {outcome}" if outcome else ""), *more)

    def __reduce__(self):
        return self.__class__, (self.path, self.reason, self.outcome, *self.more)


def reason(e: OSError) -> str:
    """An OSError in words: 'No space left on device', 'Permission denied'... (pyarrow's errors
    carry the number only in their text: '... Detail: [errno 28] No space left on device')."""
    if isinstance(e, RefusedFile):
        return e.strerror or str(e)
    if isinstance(e.errno, int) and e.errno > 0:
        return os.strerror(e.errno)
    if m := re.search(r"\[errno (\d+)\]", str(e)):
        return os.strerror(int(m.group(1)))
    return e.strerror or str(e) or type(e).__name__


# --------------------------------------------------------------------------- one file


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    An OSError (in the body too: it writes the file) removes the temporary and is raised as
    WriteError naming `path`."""
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            _unlink(tmp)
        raise WriteError(path, reason(e)) from None
    except BaseException:
        if tmp is not None:
            _unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink(p: Path) -> None:
    try:
        p.unlink(missing_ok=True)
    except OSError:
        pass


def text_writer(text: str) -> Writer:
    def write(p: Path) -> None:
        p.write_text(text, encoding="utf-8")

    return write


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n"


def csv_writer(frame) -> Writer:
    return lambda p: frame.to_csv(p, index=False)


def parquet_writer(frame) -> Writer:
    return lambda p: frame.to_parquet(p, index=False, compression="zstd")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        text_writer(text)(tmp)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json_text(data))


def write_csv(path: str | Path, frame) -> None:
    with atomic_path(path) as tmp:
        csv_writer(frame)(tmp)


def write_parquet(path: str | Path, frame) -> None:
    with atomic_path(path) as tmp:
        parquet_writer(frame)(tmp)


def _json_default(x):
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "isoformat"):
        return x.isoformat()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- reading untrusted files

# Limits of read_limited for the files of results folders and baselines (docs/security.md: they
# are untrusted). JSON, CSV and manifests slotsim writes are kilobytes to a few megabytes;
# Parquet tables of a large batch (daily series of thousands of runs) can be gigabytes, so their
# limit only stops a file that would exhaust memory, not a plausible result set.
MAX_SMALL_FILE = 50 * 2**20  # checkpoint JSON, manifest.json, a baseline's metrics.csv
MAX_TABLE_FILE = 4 * 2**30  # a checkpoint's or a results folder's Parquet table


class RefusedFile(OSError):
    """A file read_limited will not read: not a regular file (a FIFO, a device, a folder...), or
    larger than its limit. `strerror` says why, `filename` names it."""

    def __init__(self, path: str | Path, why: str):
        super().__init__(errno.EINVAL, why, str(path))

    def __reduce__(self):
        return self.__class__, (self.filename, self.strerror)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _size(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:g} GiB"
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"


def read_limited(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file `path` (links followed), at most `max_bytes` of them.

    Never blocks and never reads without end: the file is opened non-blocking (a FIFO opens at
    once, with no writer to wait for), the open descriptor is checked to be a regular file, and
    at most max_bytes + 1 bytes are read. Anything else raises RefusedFile (an OSError naming the
    file: 'not a regular file (a FIFO)', 'larger than 50 MiB'); the OSErrors of open and read
    (missing, permission denied...) are raised as they are."""
    try:
        pre = os.stat(path)  # a device is refused before it is even opened
    except OSError:
        pre = None  # open below raises the error, with its own words
    if pre is not None and not stat.S_ISREG(pre.st_mode):
        raise RefusedFile(path, f"not a regular file ({_kind(pre.st_mode)})")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)  # what was opened, whatever was at the path a moment before
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile(path, f"not a regular file ({_kind(info.st_mode)})")
        too_big = RefusedFile(path, f"larger than {_size(max_bytes)}, the most slotsim reads of such a file")
        if info.st_size > max_bytes:
            raise too_big
        limit = max_bytes + 1
        want = info.st_size + 1  # one read call for the whole file, as a rule
        parts: list[bytes] = []
        total = 0
        with open(fd, "rb", buffering=0, closefd=False) as f:
            while total < limit:
                chunk = f.read(min(max(want - total, 1 << 20), limit - total))
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
        if total > max_bytes:  # it grew while being read
            raise too_big
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- checks before the work


def check_writable(folder: str | Path) -> str | None:
    """None if files can be created in `folder`, else the reason. A missing folder is not made
    here (a check that is followed by a refusal must leave nothing behind): its nearest existing
    ancestor must be a folder that accepts new entries."""
    folder = Path(folder)
    probe = folder
    try:
        while not probe.exists():
            if probe.is_symlink():  # a dangling link: creating the folder would fail
                raise NotADirectoryError(errno.ENOTDIR, "a broken link is in the way")
            probe = probe.parent
        if not probe.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{probe} is a file, not a folder")
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".probe.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        return f"{folder}: cannot write there ({e.strerror or e})"
    return None


def check_file_target(path: str | Path, option: str = "") -> str | None:
    """None if `path` can be written as a file: not a folder (nor a device...), its folder writable."""
    path = Path(path)
    prefix = f"{option} " if option else ""
    if path.is_dir():
        return f"{prefix}{path}: is a folder; give the name of a file to write"
    if path.exists() and not path.is_file():
        return f"{prefix}{path}: not a regular file; give the name of a file to write"
    msg = check_writable(path.parent)
    return f"{prefix}{msg}" if msg else None


def check_folder_target(folder: str | Path, files: Iterable[str] = (), folders: Iterable[str] = ()) -> list[str]:
    """The reasons `folder` cannot take the named files and subfolders (empty: it can)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return [f"{folder}: not a folder; give a folder to write into"]
    if msg := check_writable(folder):
        return [msg]
    problems = []
    for name in files:
        p = folder / name
        if p.is_dir() or (p.exists() and not p.is_file()):
            problems.append(f"{p}: is in the way (not a regular file); move it away, slotsim writes a file there")
    for name in folders:
        p = folder / name
        if p.exists() and not p.is_dir():
            problems.append(f"{p}: is in the way (not a folder); move it away, slotsim writes a folder there")
    return problems


# --------------------------------------------------------------------------- a set of files


class FileSet:
    """Outputs replaced together: each is written completely into a staging folder first.

        with FileSet(note="...") as fs:
            fs.write(out / "data.csv", csv_writer(frame))
            fs.write(out / "figures", draw_into_folder)       # a writer may make a folder
            fs.write(out / "manifest.json", text_writer(...))
            fs.commit(record=out / "manifest.json", remove=[out / "old.parquet"])

    Staging: `.slotsim-tmp-<pid>-XXXX/` in each target's folder (same file system, so the swap is
    renames only: it needs no space and cannot meet a full disk). Anything that fails while
    staging (disk full, permission...) removes the staging folders and raises WriteError naming
    the target: no target has been touched. Leaving the block without `commit` (an error, Ctrl-C)
    discards the staged files likewise. Staging folders of dead processes are removed when a new
    set is staged in the same folder.

    `commit` moves the old outputs (and `remove`d ones) into the staging folder and the new ones in,
    then deletes the old ones; the old `record` goes out first and the new one comes in last. If a
    rename fails, the renames done are undone in reverse order (the old record back last) and
    WriteError is raised. `note` is added to every WriteError message (what to do next).
    """

    def __init__(self, note: str = ""):
        self.note = note
        self.staged: dict[Path, Path] = {}  # target -> staged copy
        self.stages: dict[Path, Path] = {}  # folder -> its staging folder
        self.committed = False

    def __enter__(self) -> FileSet:
        return self

    def __exit__(self, *exc) -> None:
        if not self.committed:
            self.discard()

    def _error(self, path: Path, why: str, outcome: str = UNCHANGED) -> WriteError:
        return WriteError(path, why, outcome, *([self.note] if self.note else []))

    def _stage(self, folder: Path) -> Path:
        if folder not in self.stages:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                _remove_dead_stages(folder)
                self.stages[folder] = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=folder))
            except OSError as e:
                raise self._error(folder, reason(e)) from None
        return self.stages[folder]

    def write(self, target: str | Path, writer: Writer) -> Path:
        """Stage `target`: writer(path) writes the new file (or folder) at `path`; returns that path."""
        target = Path(target)
        if target in self.staged:
            raise ValueError(f"{target}: staged twice")
        stage = self._stage(target.parent)
        tmp = stage / f"new-{target.name}"
        try:
            writer(tmp)
            if not tmp.exists():
                raise RuntimeError(f"{target}: the writer wrote nothing")
            _fsync_tree(tmp)
        except WriteError as e:
            self.discard()
            raise self._error(_shown(e.path, tmp, target), e.reason) from None
        except OSError as e:
            self.discard()
            where = _shown(Path(e.filename), tmp, target) if isinstance(e.filename, str) else target
            raise self._error(where, reason(e)) from None
        except BaseException:
            self.discard()
            raise
        self.staged[target] = tmp
        return tmp

    def sha256(self, target: str | Path) -> str:
        """SHA-256 of the staged file for `target`."""
        return sha256_file(self.staged[Path(target)])

    def discard(self) -> None:
        for stage in self.stages.values():
            shutil.rmtree(stage, ignore_errors=True)
        self.stages.clear()
        self.staged.clear()

    def commit(self, record: str | Path | None = None, remove: Iterable[str | Path] = ()) -> None:
        """Swap the staged outputs in; `record` (one of them) last, its old version out first;
        the existing paths in `remove` go out with the old set."""
        rec = Path(record) if record is not None else None
        gone = [Path(p) for p in remove]
        if rec is not None and rec not in self.staged:
            raise ValueError(f"{rec}: the commit record must be staged")
        if set(gone) & set(self.staged):
            raise ValueError("a path is both written and removed")
        for target, tmp in self.staged.items():  # nothing moves if a target's kind would change
            if os.path.lexists(target) and target.is_dir() != tmp.is_dir():
                kind = "a folder" if target.is_dir() else "a file"
                self.discard()
                raise self._error(target, f"{kind} is in the way; move it away")
        out_first = [rec] if rec is not None else []
        order = [t for t in self.staged if t != rec] + out_first
        done: list[tuple[Path, Path]] = []  # renames made, to undo
        current = Path(".")

        def move(src: Path, dst: Path) -> None:
            os.rename(src, dst)
            done.append((src, dst))

        try:
            for p in out_first + gone:
                current = p
                if os.path.lexists(p):
                    move(p, self._stage(p.parent) / f"old-{p.name}")
            for t in order:
                current = t
                if t not in out_first and os.path.lexists(t):
                    move(t, self._stage(t.parent) / f"old-{t.name}")
                move(self.staged[t], t)
        except BaseException as e:
            if not _undo(done):  # keep the staging folders: they hold the previous files
                kept = ", ".join(map(str, self.stages.values()))
                self.stages, self.staged = {}, {}
                if isinstance(e, OSError):
                    raise self._error(current, reason(e), f"the previous files are in {kept}") from None
                raise
            self.discard()
            if isinstance(e, OSError):
                raise self._error(current, reason(e), "the previous files were put back") from None
            raise
        self.committed = True
        for folder in self.stages:
            _fsync_dir(folder)
        self.discard()


def _shown(path: Path, tmp: Path, target: Path) -> Path:
    """A path inside the staged copy `tmp`, named as it will be inside `target`."""
    try:
        return target / Path(path).relative_to(tmp)
    except ValueError:
        return target


def _undo(done: list[tuple[Path, Path]]) -> bool:
    ok = True
    for src, dst in reversed(done):
        try:
            os.rename(dst, src)
        except OSError:
            ok = False
    return ok


def _fsync_tree(path: Path) -> None:
    """Data on disk before the rename that publishes it (a crash then shows old or new, not empty)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder
    finally:
        os.close(fd)


def _remove_dead_stages(folder: Path) -> None:
    """Staging folders left by processes that died (their pid is in the name)."""
    for p in folder.glob(f"{STAGE_PREFIX}*"):
        try:
            pid = int(p.name[len(STAGE_PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


# --------------------------------------------------------------------------- the lock of an output folder

_held: dict[str, int] = {}  # folders this process has locked -> depth


@contextmanager
def folder_lock(folder: str | Path, holder: str) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (created if missing) while the block runs.

    Another process holding it: InputError at once ('DIR is in use by another slotsim batch
    (pid N)'), never a wait. The lock is `flock` on DIR/.slotsim.lock, released by the kernel when
    the holder exits or dies, so no stale lock survives a crash; the file stays (removing it would
    race with a process about to lock it). Reentrant within a process. `holder` names the command
    for the message another process prints."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{folder}: cannot write there ({reason(e)})") from None
    key = os.path.realpath(folder)
    if key in _held or fcntl is None:
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
        return
    path = folder / LOCK_NAME
    try:
        # never through a link, never a file with other names: a planted .slotsim.lock must not
        # make the lock truncate a file elsewhere
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise InputError(f"{path}: not a lock file slotsim made (a link): remove it or write elsewhere") from None
        raise InputError(f"{folder}: cannot write there ({reason(e)}: {LOCK_NAME})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise InputError(f"{path}: not a lock file slotsim made (a link or special file): remove it or write elsewhere")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"{folder} is in use by another {_holder(fd)}; wait for it to end or write elsewhere"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {holder}\n".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        pid, who = text.split(" ", 1)
        return f"{who} (pid {int(pid)})"
    except (OSError, ValueError):
        return "slotsim process (pid unknown)"
