"""A throwaway PostgreSQL server for the tests and the benchmarks.

``PostgresServer`` runs ``initdb`` and ``pg_ctl`` in a temporary folder: a cluster of
its own on a free port of 127.0.0.1 (password login), its socket in that folder, fsync
off unless asked (nothing in it is worth keeping). ``stop()`` stops the server and
removes the folder; nothing is left running or on disk. No service of the machine is
used or needed: only the server binaries, found on PATH or in
/usr/lib/postgresql/*/bin (Debian's ``postgresql`` package; ``.ci/run`` installs it).

As root (CI), ``initdb`` refuses to run: the server then runs as the ``postgres`` system
user (the package creates it), which owns the temporary folder.

``new_database()`` gives each test a database of its own: a copy of a template that was
migrated once, made in the background while the previous test runs (and dropped in the
background after it), so a test waits for neither.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

from storage.postgresql import migrate

SUPERUSER = "twofa"
TEMPLATE = "twofa_template"
START_TIMEOUT_S = 60
# Fast and disposable: never wait for the disk. (``fsync=True`` for a benchmark that
# should pay for durability as production does.)
_THROWAWAY = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
_COMMON = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "max_pred_locks_per_transaction": "256",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why."""


def server_binaries() -> Path:
    """The folder with initdb, pg_ctl and postgres: from PATH, else the newest Debian one."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.split(".")[0].isdigit()),
            key=lambda p: [int(part) for part in p.name.split(".") if part.isdigit()],
            reverse=True,
        )
        candidates += [p / "bin" for p in versions]
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresUnavailable(
        "the PostgreSQL server binaries (initdb, pg_ctl, postgres) are neither on PATH nor "
        "in /usr/lib/postgresql/*/bin: install them (Debian: apt-get install -y postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    def __init__(self, *, fsync: bool = False, settings: dict[str, str] | None = None) -> None:
        self.bin = server_binaries()
        self.password = secrets.token_urlsafe(16)
        self.port = 0
        self._settings = {**_COMMON, **({} if fsync else _THROWAWAY), **(settings or {})}
        self._folder: Path | None = None
        self._admin: psycopg.Connection[Any] | None = None
        # Databases made and dropped off the tests' path, on a connection of its own.
        self._background = ThreadPoolExecutor(1, thread_name_prefix="pg-databases")
        self._background_admin: psycopg.Connection[Any] | None = None
        self._next_database: Future[str] | None = None
        self._template: str | None = None  # once the migrated template is made
        self._run_as = self._server_user()

    @staticmethod
    def _server_user() -> str | None:
        """None: run the server as ourselves; as root, the ``postgres`` user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root, and initdb refuses root: a 'postgres' system user is needed "
                "to run the server as (Debian's postgresql package creates it)"
            ) from None
        return "postgres"

    # ------------------------------------------------------------------ life cycle

    def start(self) -> PostgresServer:
        folder = Path(tempfile.mkdtemp(prefix="twofa-pg-"))
        self._folder = folder
        atexit.register(self.stop)
        try:
            if self._run_as is not None:
                shutil.chown(folder, self._run_as, self._run_as)
            pwfile = folder / "password"
            pwfile.write_text(self.password + "\n")
            if self._run_as is not None:
                shutil.chown(pwfile, self._run_as, self._run_as)
            self._command(
                "initdb",
                "--pgdata",
                str(folder / "data"),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            pwfile.unlink()
            self._start_on_a_free_port(folder)
            self._admin = psycopg.connect(self.url("postgres"), autocommit=True)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_on_a_free_port(self, folder: Path) -> None:
        config = folder / "data" / "postgresql.conf"
        base = config.read_text()
        for _ in range(3):  # another process may take the port between probe and bind
            self.port = _free_port()
            settings = {**self._settings, "port": str(self.port)}
            settings["unix_socket_directories"] = f"'{folder}'"
            lines = [f"{name} = {value}" for name, value in settings.items()]
            config.write_text(base + "\n# bench/_postgres.py\n" + "\n".join(lines) + "\n")
            try:
                self._command(
                    "pg_ctl",
                    "--pgdata",
                    str(folder / "data"),
                    "--log",
                    str(folder / "server.log"),
                    "--wait",
                    f"--timeout={START_TIMEOUT_S}",
                    "start",
                )
                return
            except PostgresUnavailable:
                if "already in use" not in self.log():
                    raise
        raise PostgresUnavailable(f"no free port for PostgreSQL:\n{self.log()}")

    def stop(self) -> None:
        atexit.unregister(self.stop)
        self._background.shutdown(wait=True, cancel_futures=True)
        for connection in (self._admin, self._background_admin):
            if connection is not None:
                with contextlib.suppress(psycopg.Error):
                    connection.close()
        self._admin = self._background_admin = None
        self._template = None
        folder, self._folder = self._folder, None
        if folder is None:
            return
        if (folder / "data" / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                self._command(
                    "pg_ctl", "--pgdata", str(folder / "data"), "--mode=immediate", "stop"
                )
        shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        path = None if self._folder is None else self._folder / "server.log"
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    def _command(self, name: str, *args: str) -> None:
        argv = [str(self.bin / name), *args]
        if self._run_as is not None:
            argv = ["runuser", "-u", self._run_as, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=self._folder)
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{name} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
                f"\n{self.log()[-2000:]}"
            )

    # ------------------------------------------------------------------ databases

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        """Run a statement as the superuser, connected to the ``postgres`` database."""
        assert self._admin is not None, "the server is not running"
        self._admin.execute(sql.encode(), params)

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """A new database (a copy of ``template`` if given); its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        clause = f" TEMPLATE {template}" if template else ""
        self.admin(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def drop_database(self, url: str, *, wait: bool = True) -> None:
        name = url.rsplit("/", 1)[1]
        if wait:
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            self._background.submit(self._in_background, f'DROP DATABASE "{name}" WITH (FORCE)')

    def migrated_template(self) -> str:
        """A database with every migration applied, to copy from (created once)."""
        if self._template is None:
            with psycopg.connect(self.create_database(TEMPLATE), autocommit=True) as conn:
                migrate(conn)
            self._template = TEMPLATE
        return self._template

    def new_database(self) -> str:
        """A fresh migrated database; its URL. (The next one is made meanwhile.)"""
        template = self.migrated_template()
        ready = self._next_database
        self._next_database = self._background.submit(self._copy_of, template)
        if ready is None:  # the first one: none was made ahead
            ready = self._background.submit(self._copy_of, template)
        return ready.result()

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        url = self.new_database()
        try:
            yield url
        finally:
            self.drop_database(url, wait=False)

    def _copy_of(self, template: str) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._in_background(f'CREATE DATABASE "{name}" TEMPLATE {template}')
        return self.url(name)

    def _in_background(self, statement: str) -> None:
        if self._background_admin is None:
            self._background_admin = psycopg.connect(self.url("postgres"), autocommit=True)
        self._background_admin.execute(statement.encode())


@contextlib.contextmanager
def local_postgresql() -> Iterator[str]:
    """A fresh server paying for durability as production does (fsync on), with one
    migrated, empty database: its URL (the benchmarks' ``--database local``)."""
    server = PostgresServer(fsync=True).start()
    try:
        with server.database() as url:
            yield url
    finally:
        server.stop()
