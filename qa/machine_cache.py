"""Files a process derives once per machine from installed data (jieba's dictionary, jionlp's
divisions) and later processes read instead of parsing again.

They live in the temporary folder beside jieba's own cache, named after a digest of the data
file's content and a format version, so a changed package or format is never read from a stale
one, and every virtual environment holding the same package shares one file (named by the file's
modification time, each fresh install wrote another 16 MB copy). Hashing costs ~10 ms a file.
A read-only temporary folder only means parsing again next time.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def cache_path(stem: str, source: Path, version: int, suffix: str) -> Path:
    """Where the cache derived from `source` (format `version`) is kept on this machine."""
    digest = hashlib.blake2b(Path(source).read_bytes(), digest_size=10).hexdigest()
    return Path(tempfile.gettempdir()) / f"{stem}-{version}-{digest}.{suffix}"


def read_cache(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write_cache(path: Path, data: bytes) -> None:
    """Write whole or not at all: readers never see half a file, two writers never mix."""
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
