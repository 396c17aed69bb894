"""Simulated non-volatile memory: named cells, counted writes and a power-cut fault hook.

A store is a flat map of cell name -> bytes. One `write` models one NVM cell write: it is atomic
on its own only if no fault is injected. Multi-cell atomicity is built on top by `card.nvm`.

Fault injection: `fault_hook(k)` is called before the k-th write (k counts from 1 over the life
of the store object, see `write_count`). It returns None (write normally) or a `Cut` mode:
"skip" (power lost before the write), "write" (power lost right after it) or "torn" (the cell
is left holding random bytes). For a cut the store raises `PowerCut`, a BaseException so that
nothing in the card can swallow it; the caller then power-cycles the card.
"""

from __future__ import annotations

import os
import random
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from kks_emulator.errors import StoreError

Cut = Literal["skip", "write", "torn"]
FaultHook = Callable[[int], "Cut | None"]
CUT_MODES: tuple[Cut, ...] = ("skip", "write", "torn")


class PowerCut(BaseException):
    """Simulated loss of power during an NVM write (raised by the store's fault hook)."""

    def __init__(self, write_index: int, mode: str) -> None:
        self.write_index = write_index
        self.mode = mode
        super().__init__(f"power cut at write {write_index} ({mode})")


class Store:
    """Base class: cell storage with counted, fault-injectable writes."""

    def __init__(self, fault_hook: FaultHook | None = None,
                 fault_rng: random.Random | None = None) -> None:
        self._cells: dict[str, bytes] = {}
        self.fault_hook = fault_hook
        self.fault_rng = fault_rng if fault_rng is not None else random.Random(0)
        self.write_count = 0

    def read(self, name: str) -> bytes | None:
        """The bytes of a cell, or None if it was never written."""
        return self._cells.get(name)

    def names(self) -> list[str]:
        """Names of all cells."""
        return sorted(self._cells)

    def snapshot(self) -> dict[str, bytes]:
        """A copy of every cell (for tests and cloning)."""
        return dict(self._cells)

    def write(self, name: str, value: bytes) -> None:
        """Write one cell, consulting the fault hook first."""
        self.write_count += 1
        hook = self.fault_hook
        if hook is not None:
            mode = hook(self.write_count)
            if mode is not None:
                if mode == "write":
                    self._cells[name] = bytes(value)
                    self._persist()
                elif mode == "torn":
                    rng = self.fault_rng
                    size = rng.randint(0, len(value) + 4)
                    self._cells[name] = rng.randbytes(size)
                    self._persist()
                elif mode != "skip":
                    raise StoreError(f"fault hook returned unknown mode {mode!r}")
                raise PowerCut(self.write_count, mode)
        self._cells[name] = bytes(value)
        self._persist()

    def _persist(self) -> None:
        """Make the current cells durable (no-op in memory)."""


class MemoryStore(Store):
    """Cells in a dict: fast, for tests, benchmarks and in-process simulations."""

    def __init__(self, cells: dict[str, bytes] | None = None, *,
                 fault_hook: FaultHook | None = None,
                 fault_rng: random.Random | None = None) -> None:
        super().__init__(fault_hook, fault_rng)
        if cells:
            self._cells.update(cells)
        # a subclass that persists somewhere takes the general path
        self._in_memory_only = type(self)._persist is Store._persist

    def write(self, name: str, value: bytes) -> None:
        """Write one cell (nothing to persist in memory; the fault hook still applies)."""
        if self.fault_hook is not None or not self._in_memory_only:
            super().write(name, value)
            return
        self.write_count += 1
        self._cells[name] = bytes(value)

    def clone(self) -> MemoryStore:
        """An independent copy of the cells (no fault hook)."""
        return MemoryStore(self.snapshot())


_MAGIC = b"KKSNVM1\n"


class FileStore(Store):
    """Cells in one file, replaced atomically (write temp file, fsync, rename) on every write.

    The file is: magic, then per cell name length(1) name value length(4) value, then CRC-32 of
    everything before it. A file that fails the check raises `StoreError` on open.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 fsync: bool = True, fault_hook: FaultHook | None = None,
                 fault_rng: random.Random | None = None) -> None:
        super().__init__(fault_hook, fault_rng)
        self.path = Path(path)
        self.fsync = fsync
        if self.path.exists():
            self._cells.update(self._load())
        elif not create:
            raise StoreError(f"{self.path}: card file not found")

    def _load(self) -> dict[str, bytes]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read card file: {exc.strerror}") from None
        if len(raw) < len(_MAGIC) + 4 or not raw.startswith(_MAGIC):
            raise StoreError(f"{self.path}: not a KKS card file")
        body, crc = raw[:-4], struct.unpack(">I", raw[-4:])[0]
        if zlib.crc32(body) != crc:
            raise StoreError(f"{self.path}: card file failed its CRC-32 check")
        cells: dict[str, bytes] = {}
        pos = len(_MAGIC)
        try:
            while pos < len(body):
                n = body[pos]
                name = body[pos + 1:pos + 1 + n].decode("ascii")
                pos += 1 + n
                (size,) = struct.unpack(">I", body[pos:pos + 4])
                pos += 4
                cells[name] = body[pos:pos + size]
                pos += size
        except (IndexError, struct.error, UnicodeDecodeError):
            raise StoreError(f"{self.path}: card file is truncated") from None
        return cells

    def _persist(self) -> None:
        parts = [_MAGIC]
        for name in sorted(self._cells):
            value = self._cells[name]
            enc = name.encode("ascii")
            parts.append(bytes((len(enc),)) + enc + struct.pack(">I", len(value)) + value)
        body = b"".join(parts)
        data = body + struct.pack(">I", zlib.crc32(body))
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=".kkscard-", dir=directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    if self.fsync:
                        fh.flush()
                        os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write card file: {exc.strerror}") from None
