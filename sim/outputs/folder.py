"""Results folders that never destroy what the tool did not write (RELIABILITY S-OUT).

A results folder is marked as such by its ``manifest.json`` carrying ``"kind"`` (one of `KINDS`).
`check_target` decides, before anything runs, whether ``--out`` may be written:

* a missing folder, an empty folder, or a results folder (any kind) may be written;
* a non-empty folder that is not a results folder is refused unless ``force`` (the user's files
  would be lost);
* the current folder, one of its parents, the file-system root, an existing file, a path under a
  file, a name the file system cannot hold: impossible targets, refused.

`replace_atomically` puts a finished folder in place. On Linux it swaps the new folder and the
old one with one ``renameat2(RENAME_EXCHANGE)`` call, so at every instant the target is either the
complete old folder or the complete new one; where that call is missing it falls back to two
renames (the old folder is moved aside first and is deleted only once the new one is in place).
A run that dies before the swap leaves the old folder untouched and only a hidden
``.NAME.partial-*`` sibling, which the next write into the same target removes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kks_emulator.errors import InputError

MANIFEST = "manifest.json"
#: manifest kinds: one run, a set of replications, a card-fidelity run (`kks sim fidelity`)
RUN_KIND = "kks-sim-results"
REPLICATIONS_KIND = "kks-sim-replications"
FIDELITY_KIND = "kks-sim-fidelity"
BACKTEST_KIND = "kks-sim-backtest"
SENSITIVITY_KIND = "kks-sim-sensitivity"
KINDS = (RUN_KIND, REPLICATIONS_KIND, FIDELITY_KIND, BACKTEST_KIND, SENSITIVITY_KIND)
_PARTIAL = ".partial-"
_OLD = ".old-"


def manifest_kind(folder: Path) -> str | None:
    """The results kind of *folder* from its manifest, or None when it is not a results folder.

    Folders written before manifests carried ``kind`` are recognised by their run manifest's keys
    (scenario, seed, versions, inputs).
    """
    path = Path(folder) / MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    kind = doc.get("kind")
    if kind in KINDS:
        return kind
    if {"scenario", "seed", "versions", "inputs"} <= set(doc):
        return RUN_KIND
    return None


def is_results_folder(folder: Path) -> bool:
    """True when *folder* is a results folder this tool wrote."""
    return manifest_kind(folder) is not None


def check_target(out: Path, force: bool = False, flag: str = "--out") -> Path:
    """Refuse (one-line `InputError`) an output folder that cannot or must not be replaced.

    Returns the absolute target. Call it before anything runs.
    """
    raw = str(out)
    if not raw or "\x00" in raw:
        raise InputError(f"{flag} {raw!r}: not a usable folder name")
    try:
        target = Path(os.path.abspath(out))
        cwd = Path.cwd().resolve()
        real = target.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{flag} {raw}: not a usable folder ({exc})") from None
    if real == Path(real.anchor) or real == cwd or real in cwd.parents:
        raise InputError(f"{flag} {raw}: cannot replace the current folder, one of its parents "
                         "or the root; name a new subfolder such as results/NAME")
    if len(target.name.encode()) > 200:
        raise InputError(f"{flag} {raw[:60]}...: a folder name of at most 200 bytes")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{flag} {raw}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK) and parent == target.parent:
                raise InputError(f"{flag} {raw}: cannot write in {parent} (permission denied)")
            break
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InputError(f"{flag} {raw}: exists and is not a folder; choose another name")
    if target.is_dir():
        try:
            empty = not any(target.iterdir())
        except OSError as exc:
            raise InputError(f"{flag} {raw}: cannot read the folder ({exc.strerror})") from None
        if not empty and not is_results_folder(target) and not force:
            raise InputError(f"{flag} {raw}: holds files this tool did not write (no results "
                             "manifest); choose another folder, or add --force to replace it")
    return target


@contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A fresh hidden sibling of *target* to write into; removed if the block fails.

    The writer holds an exclusive `flock` on the staging folder while it writes, so stale
    ``.NAME.partial-*`` siblings (their writer died: nobody holds their lock) are removed first,
    and a concurrent writer's folder is left alone.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}{_PARTIAL}*"):
        if stale.is_dir() and not stale.is_symlink() and _unlocked(stale):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_PARTIAL}", dir=target.parent))
    fd = os.open(tmp, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(fd)


def _unlocked(path: Path) -> bool:
    """True when no live process holds the staging lock of *path*."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def replace_atomically(new: Path, target: Path) -> None:
    """Put folder *new* at *target*, replacing what is there without a moment of absence."""
    new, target = Path(new), Path(target)
    new.chmod(0o755)
    if not target.exists():
        os.replace(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new)  # now holds the old folder
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD}", dir=target.parent))
    os.replace(target, aside / target.name)
    os.replace(new, target)
    shutil.rmtree(aside)


def write_folder(out: Path, fill: Callable[[Path], None]) -> None:
    """Create *out* by calling ``fill(tmp)`` on an empty staging folder, then swap it in.

    Call `check_target` first (before any work) so that a folder the tool did not write is never
    replaced.
    """
    with staging(Path(out)) as tmp:
        fill(tmp)
        replace_atomically(tmp, Path(out))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths with renameat2(RENAME_EXCHANGE); False where the call is unavailable."""
    fn = _renameat2()
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _renameat2():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write *data* to *path* through a temporary sibling and one rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{_PARTIAL}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
