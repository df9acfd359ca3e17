"""A throwaway PostgreSQL cluster for the test suite.

    python tests/pg_server.py start DIR   # initdb in DIR, start, create a database, print its DSN
    python tests/pg_server.py stop DIR    # stop the cluster started in DIR

The server listens only on a Unix socket inside DIR (no TCP port, so parallel runs never collide)
and trusts local connections. Run as root, the cluster belongs to the ``postgres`` system user
(PostgreSQL refuses to run as root) and DIR is handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

DATABASE = "engagekit"
PORT = 5432


def _bindir() -> Path:
    """The newest server installed under /usr/lib/postgresql, else the folder of ``initdb`` on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found and (Path(found).parent / "pg_ctl").exists():
        return Path(found).parent
    raise RuntimeError("no PostgreSQL server found (initdb); install the 'postgresql' package")


def _user() -> str:
    return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def _ensure_postgres_user() -> None:
    """As root the server must run as another user; Debian's package makes ``postgres``, a bare
    machine with only the binaries may not have it."""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)


def dsn(directory: str | os.PathLike[str]) -> str:
    """The DSN of the database in a cluster started in ``directory``."""
    socket_dir = Path(directory).resolve()
    return f"postgresql://{_user()}@/{DATABASE}?host={socket_dir}&port={PORT}"


def start(directory: str | os.PathLike[str]) -> str:
    """initdb (unless done), start the server and create the database; return its DSN."""
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    if os.geteuid() == 0:
        _ensure_postgres_user()
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
        root.chmod(0o700)
    bindir = _bindir()
    if not (data / "PG_VERSION").exists():
        _run([str(bindir / "initdb"), "-D", str(data), "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
              "--username", _user()])
    options = f"-c listen_addresses='' -c unix_socket_directories='{root}' -p {PORT} -c fsync=off " \
              "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w",
          "-t", "60", "start"])
    for _ in range(100):
        ready = subprocess.run([str(bindir / "pg_isready"), "-h", str(root), "-p", str(PORT)],
                               capture_output=True, check=False)
        if ready.returncode == 0:
            break
        time.sleep(0.1)
    exists = _run([str(bindir / "psql"), "-h", str(root), "-p", str(PORT), "-U", _user(), "-d", "postgres",
                   "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"])
    if exists.stdout.strip() != "1":
        _run([str(bindir / "createdb"), "-h", str(root), "-p", str(PORT), "-U", _user(), DATABASE])
    return dsn(root)


def stop(directory: str | os.PathLike[str]) -> None:
    """Stop the cluster started in ``directory`` (no error when it is not running)."""
    data = Path(directory).resolve() / "data"
    if not (data / "postmaster.pid").exists():
        return
    _run([str(_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print(f"usage: {argv[0]} start|stop DIR", file=sys.stderr)
        return 2
    try:
        if argv[1] == "start":
            print(start(argv[2]))
        else:
            stop(argv[2])
    except subprocess.CalledProcessError as exc:
        print(f"pg_server: {' '.join(exc.cmd)} failed:\n{exc.stdout}{exc.stderr}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
