"""Files the web app hands out for download, kept in one folder per app and bounded.

Each commitments query used to write a new `qa-*/…csv` in the system temp folder, never deleted
(200 queries → 154 MB). An `ExportFolder` is created once per running app (owner-only), names a
file for what it holds (the filters), so the same filters reuse the same file, and keeps at most
`max_files`, deleting the oldest; it is removed when the app's runtime goes away. Its files are
listed in `handed_out`, which the web app gives Gradio to sweep with its own copies of them
(`Blocks(delete_cache=…)`, QA_CACHE_SWEEP_S): an idle app keeps no download at all.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

MAX_EXPORT_FILES = 32


class ExportFolder:
    def __init__(self, max_files: int = MAX_EXPORT_FILES, parent: str | Path | None = None):
        self.path = Path(tempfile.mkdtemp(prefix="qa-exports-", dir=parent))  # mode 0700
        self.max_files = max_files
        self.handed_out: set[str] = set()  # swept by Gradio's delete_cache (see build_app)
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def write(self, name: str, text: str, encoding: str = "utf-8-sig") -> Path:
        """Write `text` as `name` (replacing a file of that name), then drop the oldest files
        beyond `max_files`; returns the file's path."""
        target = self.path / Path(name).name
        with self._lock:
            partial = target.with_name(f".{target.name}.{threading.get_ident()}.partial")
            with open(partial, "w", encoding=encoding, newline="") as out:
                out.write(text)
            os.replace(partial, target)
            self.handed_out.add(str(target))
            files = sorted((p for p in self.path.iterdir() if not p.name.startswith(".")),
                           key=lambda p: p.stat().st_mtime_ns)
            for old in files[:max(0, len(files) - self.max_files)]:
                if old != target:
                    old.unlink(missing_ok=True)
                    self.handed_out.discard(str(old))
        return target

    def files(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if not p.name.startswith("."))

    def remove(self) -> None:
        self._finalizer()
