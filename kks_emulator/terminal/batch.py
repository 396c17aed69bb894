"""The EDC's day batch: signed purse records kept for clearing, optionally in a JSON-lines file.

Each line is one item `{"record", "signature", "certificate"}` (hex). A batch file is only
appended to; `upload` sends all items under one idempotency key derived from the terminal id and
the batch number, so a retry after a lost answer is a replay, never a second clearing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kks_emulator.errors import InputError


@dataclass(frozen=True)
class BatchItem:
    """One offline purse purchase as kept by the terminal."""

    record: bytes
    signature: bytes
    certificate: bytes

    def to_json(self) -> dict[str, str]:
        """Hex form used in the batch file and in the clearing request."""
        return {"record": self.record.hex().upper(), "signature": self.signature.hex().upper(),
                "certificate": self.certificate.hex().upper()}


@dataclass
class Batch:
    """Items of the current batch, mirrored to `path` when given."""

    path: Path | None = None
    items: list[BatchItem] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path | None) -> Batch:
        """Load a batch file (missing file = empty batch)."""
        batch = cls(path)
        if path is not None and path.exists():
            try:
                for line in path.read_text().splitlines():
                    if line.strip():
                        d = json.loads(line)
                        batch.items.append(BatchItem(bytes.fromhex(d["record"]),
                                                     bytes.fromhex(d["signature"]),
                                                     bytes.fromhex(d["certificate"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}: not a terminal batch file ({exc})") from None
        return batch

    def add(self, item: BatchItem) -> None:
        """Append one item (and its line in the file)."""
        self.items.append(item)
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(item.to_json(), sort_keys=True) + "\n")

    def close(self, archive: Path | None = None) -> None:
        """Empty the batch after a successful upload; keep the file as `archive` if given."""
        if self.path is not None and self.path.exists():
            if archive is not None:
                self.path.replace(archive)
            else:
                self.path.unlink()
        self.items = []
