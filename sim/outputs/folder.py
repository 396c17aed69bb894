"""Writing a results folder atomically: fill a temporary sibling, then swap it in.

Every command that writes a results folder (`kks sim run`, `kks sim fidelity`, replications) goes
through `write_folder`, so the rules about what may be replaced live in one place. A crash while
filling leaves the previous folder untouched; the temporary folder is removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_folder(out: Path, fill: Callable[[Path], None]) -> None:
    """Create *out* by calling ``fill(tmp)`` on an empty sibling folder, then swap it in."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        fill(tmp)
        tmp.chmod(0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
