"""A real, throw-away PostgreSQL server for tests: its own cluster in a temporary folder.

The cluster is made with initdb and run by the postmaster itself (no pg_ctl, no systemd), so
a test can stop it, kill it and start it again on the same port and data, as when the
database goes away for a minute and comes back. It listens on 127.0.0.1 with password
(scram-sha-256) authentication, so the password really is checked, and on a unix socket in
its folder where the bootstrap superuser is trusted; that socket is how the server itself
creates and drops the databases the tests use.

PostgreSQL refuses to run as root. When the tests run as root the server runs as an existing
unprivileged user (``nobody``), switched to with util-linux's setpriv launcher: never with
Python in a forked child (``preexec_fn``, Popen's ``user=``), which can deadlock in a threaded
parent and did under libfaketime.

Settings trade durability for speed (fsync and full_page_writes off): the data has to outlive
a stop, a kill and a start, not a power cut.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

INSTALL = "Debian: apt-get install postgresql; .ci/run does it"
ROLE = "notifier"
SUPERUSER = "postgres"
START_DEADLINE = 60.0
STOP_DEADLINE = 30.0
# The user the server runs as when the tests run as root.
UNPRIVILEGED = "nobody"
# Where the clusters live, and the file in each that names the test run it belongs to.
CLUSTERS = "/tmp"
PREFIX = "notifier-pg-"
RUN_FILE = "test-run.pid"
# A cluster folder without that file (made before there was one) is an orphan after this long.
UNNAMED_ORPHAN_AFTER = 24 * 3600

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    # On: with fsync off it costs a write() per commit, and a commit then outlives kill(),
    # as on a real server; off, the last 200 ms of commits could vanish with a crash.
    "synchronous_commit": "on",
    "full_page_writes": "off",
    "shared_buffers": "'16MB'",
    "max_connections": "100",
    # CREATE DATABASE and DROP DATABASE checkpoint; fewer WAL files keep the folder small.
    "max_wal_size": "'64MB'",
    "min_wal_size": "'32MB'",
    "logging_collector": "off",
    "log_destination": "'stderr'",
    "log_min_messages": "warning",
    "log_connections": "off",
    "log_checkpoints": "off",
    "lc_messages": "'C'",
    "timezone": "'UTC'",
}


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_bindir() -> Path | None:
    """The folder with initdb and postgres: Debian's highest version, else ``pg_config``'s."""
    debian = sorted(
        (p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")),
        key=lambda bindir: _version_key(bindir),
    )
    if debian:
        return debian[-1]
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found and (Path(found) / "postgres").exists() and (Path(found) / "initdb").exists():
            return Path(found)
    return None


def missing() -> str | None:
    """Why no server can be started here, or None when one can."""
    if find_bindir() is None:
        return f"PostgreSQL's server binaries (initdb, postgres) are not installed ({INSTALL})"
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            return "setpriv (util-linux) is needed to run PostgreSQL as a user other than root"
        try:
            pwd.getpwnam(UNPRIVILEGED)
        except KeyError:
            return f"no user {UNPRIVILEGED!r} to run PostgreSQL as (it refuses root)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Database:
    """One database on the server, owned by the test role; the password works over TCP."""

    name: str
    user: str
    password: str
    host: str
    port: int

    @property
    def url(self) -> str:
        """postgresql://user@127.0.0.1:port/name, without the password."""
        return f"postgresql://{quote(self.user, safe='')}@{self.host}:{self.port}/{self.name}"

    @property
    def url_with_password(self) -> str:
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{self.name}"
        )

    @property
    def conninfo(self) -> str:
        """libpq key=value form, without the password."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.name}"

    def connect(self, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
        """A psycopg connection over TCP with the password."""
        return psycopg.connect(self.conninfo, password=self.password, **kwargs)  # type: ignore[arg-type]


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_orphans(clusters: Path) -> list[Path]:
    """Remove the clusters of test runs that were killed before they could (SIGKILL, a
    timeout), stopping a server of theirs still running; return the folders removed. A
    cluster whose run is alive, or that is being set up, is left alone."""
    removed = []
    for folder in clusters.glob(PREFIX + "*"):
        run = _pid_in(folder / RUN_FILE)
        if run is not None and _alive(run):
            continue
        if run is None:
            try:
                age = time.time() - folder.stat().st_mtime
            except OSError:
                continue
            if age < UNNAMED_ORPHAN_AFTER:
                continue
        server = _pid_in(folder / "data" / "postmaster.pid")
        if server is not None and _alive(server):
            if run is None:
                continue  # a server of a run that names no file: not ours to judge
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server, signal.SIGKILL)  # started in a session of its own
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class PostgresServer:
    """A throw-away cluster; ``with PostgresServer() as server:`` starts it and removes it all.

    ``url`` and ``dsn`` name the role's own database ``notifier``; ``create_database()`` makes
    a fresh, empty one per test. ``stop()``, ``kill()`` and ``start()`` keep port and data.
    """

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError(f"PostgreSQL is not installed ({INSTALL})")
        self.bindir = found
        self.host = "127.0.0.1"
        self.port = 0
        self.user = ROLE
        self.password = secrets.token_hex(16)
        self.folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    # --- paths and names --------------------------------------------------------------

    def _require_folder(self) -> Path:
        if self.folder is None:
            raise RuntimeError("the server has not been set up: use it as a context manager")
        return self.folder

    @property
    def data(self) -> Path:
        return self._require_folder() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_folder()

    @property
    def log_path(self) -> Path:
        return self._require_folder() / "postgres.log"

    @property
    def database(self) -> Database:
        """The role's own database, made with the cluster."""
        return self._database(ROLE)

    @property
    def url(self) -> str:
        return self.database.url

    @property
    def url_with_password(self) -> str:
        return self.database.url_with_password

    @property
    def dsn(self) -> str:
        return self.database.conninfo

    conninfo = dsn

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _database(self, name: str) -> Database:
        return Database(name, self.user, self.password, self.host, self.port)

    # --- running commands as the unprivileged owner ------------------------------------

    def _owner(self) -> tuple[int, int] | None:
        """(uid, gid) to switch to, or None when the tests do not run as root."""
        if os.geteuid() != 0:
            return None
        entry = pwd.getpwnam(UNPRIVILEGED)
        return entry.pw_uid, entry.pw_gid

    def _as_owner(self, command: list[str]) -> list[str]:
        owner = self._owner()
        if owner is None:
            return command
        uid, gid = owner
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *command]

    def _environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            # A developer's PG* settings must not point initdb or libpq elsewhere.
            if not key.startswith("PG")
        }
        env.update(LC_ALL="C", LANG="C", HOME=str(self._require_folder()))
        return env

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    # --- life cycle -------------------------------------------------------------------

    def __enter__(self) -> PostgresServer:
        try:
            self._set_up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _set_up(self) -> None:
        # Under /tmp, not pytest's tmp_path: the unprivileged owner must reach the folder, and
        # a short path keeps the unix socket's name under its 107-byte limit.
        remove_orphans(Path(CLUSTERS))
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=CLUSTERS))
        (self.folder / RUN_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
        owner = self._owner()
        if owner is not None:
            os.chown(self.folder, *owner)
        self.folder.chmod(0o700)
        password_file = self.folder / "superuser-password"
        password_file.write_text(secrets.token_hex(16) + "\n", encoding="utf-8")
        if owner is not None:
            os.chown(password_file, *owner)
        initdb = subprocess.run(
            self._as_owner(
                [
                    str(self.bindir / "initdb"),
                    "--pgdata",
                    str(self.data),
                    "--username",
                    SUPERUSER,
                    "--pwfile",
                    str(password_file),
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                    "--no-instructions",
                ]
            ),
            cwd=self.folder,
            env=self._environment(),
            capture_output=True,
            text=True,
            timeout=START_DEADLINE,
        )
        password_file.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}"
            )
        settings = {**SETTINGS, "unix_socket_directories": f"'{self.socket_dir}'"}
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# tests/postgres_server.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        # Trust on the socket (the folder is the owner's alone), a password over TCP.
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n", encoding="utf-8"
        )
        # The port is only known free when checked: another process may take it before the
        # server binds it, so a first start that cannot bind tries another port.
        for attempt in range(5):
            self.port = free_port()
            try:
                self.start()
                break
            except RuntimeError as error:
                if attempt == 4 or "could not bind" not in str(error):
                    raise
        with self._admin() as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(self.user), sql.Literal(self.password)
                )
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(ROLE), sql.Identifier(self.user)
                )
            )

    def start(self) -> None:
        """Start the server on its port and data; return once it accepts connections."""
        if self.running:
            return
        self._require_folder()
        # Opened by the parent and inherited, so the log is written wherever the owner is.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._as_owner(
                    [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
                ),
                cwd=self.folder,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group, so kill() can take the backends down with it.
                start_new_session=True,
            )
        deadline = time.monotonic() + START_DEADLINE
        while True:
            code = self._process.poll()
            if code is not None:
                self._process = None
                raise RuntimeError(
                    f"postgres exited ({code}) while starting; {self.log_path}:\n"
                    + self._log_tail()
                )
            try:
                with self._admin(connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"postgres did not accept connections within {START_DEADLINE:.0f} s; "
                        f"{self.log_path}:\n" + self._log_tail()
                    ) from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Fast shutdown: open sessions are ended, the data is kept for ``start()``."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._process = None

    def kill(self) -> None:
        """The server dies at once, backends too (a crash); ``start()`` recovers the data."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_DEADLINE)
        self._process = None

    def close(self) -> None:
        """Stop the server and remove its folder, data and log."""
        try:
            self.stop()
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder = None

    # --- databases --------------------------------------------------------------------

    def _admin(self, connect_timeout: int = 10) -> psycopg.Connection[tuple[object, ...]]:
        """The superuser over the unix socket, autocommit (CREATE DATABASE needs it)."""
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=SUPERUSER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=connect_timeout,
        )

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database owned by the role: its url, without the password."""
        return self.new_database(name).url

    def new_database(self, name: str | None = None) -> Database:
        """A new, empty database owned by the role; a unique name unless one is given.

        ``.url`` has no password, ``.url_with_password`` and ``.password`` have it.
        """
        name = name or f"test_{os.getpid()}_{next(self._names)}"
        with self._admin() as admin:
            # FILE_COPY: a copy of the files and a checkpoint, cheap with fsync off; the default
            # since PostgreSQL 15 (WAL_LOG) writes the whole template through the WAL, slower.
            strategy = sql.SQL(" STRATEGY FILE_COPY" if admin.info.server_version >= 150000 else "")
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0{}").format(
                    sql.Identifier(name), sql.Identifier(self.user), strategy
                )
            )
        return self._database(name)

    def drop_database(self, name: str) -> None:
        """Drop it even with sessions still open (they are ended)."""
        with self._admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
