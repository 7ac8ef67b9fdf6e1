"""Throw-away servers for tests and the replica load test: a PostgreSQL cluster (Debian's
`postgresql` package: initdb into a temp folder, a unix socket only, stopped at the end) and
Milvus Lite served over gRPC (`milvus-lite server`) on a loopback port.

    with postgres() as url, milvus_lite_server(tmp, port) as uri: ...
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

SOCKET_PORT = 7961  # names the unix socket file (no TCP listener)


def postgres_bin(tool: str) -> str | None:
    """Path of a PostgreSQL server tool (initdb, pg_ctl), or None when none is installed."""
    found = shutil.which(tool)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return candidates[-1] if candidates else None


def postgres_unavailable() -> str | None:
    """Why a PostgreSQL server cannot be started here, or None."""
    if not postgres_bin("initdb") or not postgres_bin("pg_ctl"):
        return "PostgreSQL server tools (initdb, pg_ctl) not installed: apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run initdb as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg not installed (pip install -e '.[scale]')"
    return None


def _as_owner(cmd: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the postgres user then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextmanager
def postgres(port: int = SOCKET_PORT):
    """A fresh PostgreSQL cluster in a temp folder of its own (readable by the postgres user when
    run as root), listening on a unix socket there; yields its URL; removed at the end."""
    reason = postgres_unavailable()
    if reason:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="qa-pg-"))
    data, sockets = root / "pgdata", root / "pgsock"
    sockets.mkdir(parents=True, exist_ok=True)
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        info = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, info.pw_uid, info.pw_gid)
    subprocess.run(_as_owner([postgres_bin("initdb"), "-D", str(data), "-U", user, "-A", "trust",
                              "-E", "UTF8", "--no-locale"]),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    options = f"-c listen_addresses='' -c unix_socket_directories={sockets} -p {port} -c fsync=off"
    subprocess.run(_as_owner([postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-l",
                              str(root / "postgres.log"), "-w", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"postgresql://{user}@/postgres?host={sockets}&port={port}"
    finally:
        subprocess.run(_as_owner([postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


def wait_for_port(port: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


def stop(proc: subprocess.Popen, log) -> None:
    """Ends a server started here (killed if it does not stop within 20 s) and closes its log."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@contextmanager
def milvus_lite_server(root: Path, port: int):
    """Milvus Lite's gRPC server over a data folder in `root`; yields its URI."""
    log = open(Path(root) / "milvus-lite.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                             str(Path(root) / "milvus-data"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, log)
