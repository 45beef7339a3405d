"""A throwaway PostgreSQL server for the benchmarks, as durable as production (fsync on).

``local_postgresql()`` runs ``initdb`` and ``pg_ctl`` in a temporary folder (a cluster of
its own on a free port of 127.0.0.1, password login, its socket in that folder), creates
one migrated database and yields its URL; on leaving, the server is stopped and the folder
removed. Only the server binaries are needed: on PATH or in /usr/lib/postgresql/*/bin
(Debian's ``postgresql`` package). As root (initdb refuses it) the server runs as the
``postgres`` system user, which owns the folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from storage.postgresql import migrate

SUPERUSER = "bench"
DATABASE = "twofa_bench"
START_TIMEOUT_S = 60
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "max_pred_locks_per_transaction": "256",
    "log_min_messages": "warning",
    "logging_collector": "off",
    # fsync, synchronous_commit and full_page_writes stay on, as in production.
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why."""


def _binaries() -> Path:
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        candidates += [p / "bin" for p in sorted(debian.iterdir(), reverse=True)]
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def local_postgresql() -> Iterator[str]:
    """A fresh server with one migrated, empty database; its URL."""
    binaries = _binaries()
    run_as = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="twofa-bench-pg-"))
    data, log = folder / "data", folder / "server.log"

    def command(name: str, *args: str) -> None:
        argv = [str(binaries / name), *args]
        if run_as is not None:
            argv = ["runuser", "-u", run_as, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=folder)
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{name} failed: {done.stderr or done.stdout}\n{tail}")

    password = secrets.token_urlsafe(16)
    port = _free_port()
    try:
        if run_as is not None:
            shutil.chown(folder, run_as, run_as)
        pwfile = folder / "password"
        pwfile.write_text(password + "\n")
        if run_as is not None:
            shutil.chown(pwfile, run_as, run_as)
        command(
            "initdb",
            *("--pgdata", str(data), "--username", SUPERUSER, "--pwfile", str(pwfile)),
            *("--auth-host=scram-sha-256", "--auth-local=peer", "--encoding=UTF8", "--locale=C"),
            "--no-sync",
        )
        pwfile.unlink()
        settings = {**SETTINGS, "port": str(port), "unix_socket_directories": f"'{folder}'"}
        with (data / "postgresql.conf").open("a") as config:
            config.write("\n# bench/postgres.py\n")
            config.writelines(f"{name} = {value}\n" for name, value in settings.items())
        command("pg_ctl", "--pgdata", str(data), "--log", str(log), "--wait", "start")
        base = f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{DATABASE}"'.encode())
        with psycopg.connect(f"{base}/{DATABASE}", autocommit=True) as conn:
            migrate(conn)
        yield f"{base}/{DATABASE}"
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                command("pg_ctl", "--pgdata", str(data), "--mode=immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)
