"""postgres.py — a PostgreSQL 15 of the tests' own, the cluster-wide message tracking store of
CONTRACT §11: initdb in a private folder as the `postgres` user, run as a child process (uid
postgres) on a free 127.0.0.1 port, stopped or killed by its PID (docs/testing-engines.md,
"PostgreSQL").

    with Postgres(workdir) as pg:
        pg.conninfo          # "host=127.0.0.1 port=N dbname=tidegate user=tidegate" (no password)
        pg.password, pg.password_file
        pg.sql("SELECT ...")  # rows as lists of strings, through psql as the superuser
        pg.stop(); pg.start() # the same port and data after a restart; pg.kill() = SIGKILL

- PostgreSQL refuses to run as root: its data and socket folder live under a folder of
  their own in /tmp (mode 0711, pytest's own are 0700), removed by close(); its log is kept in
  workdir/postgres/postgres.log.
- The role `tidegate` (LOGIN, a random password, scram-sha-256 over TCP) owns database
  `tidegate`. The superuser `postgres` is reached over the Unix socket (trust).
- Missing binaries raise FileNotFoundError: tests skip, and under CI=true a skip fails.

`python3 tests/e2e/postgres.py serve DIR` runs one until SIGINT/SIGTERM and prints
`conninfo=…` and `password_file=…` once it answers (bench/pg_tracking.py uses the class itself).
"""
import argparse
import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engines import _EngineProcess, _pgid_kill  # noqa: E402
from harness import free_port  # noqa: E402


def bindir():
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(candidate, "postgres"), os.X_OK):
            return candidate
    raise FileNotFoundError("PostgreSQL not installed (make deps: postgresql)")


class Postgres(_EngineProcess):
    name = "postgres"
    START_TIMEOUT = 30.0  # initdb + start measured 1-2 s (testing-engines.md)
    POLL = 0.05
    USER = "tidegate"
    DATABASE = "tidegate"

    def __init__(self, workdir):
        self.bin = bindir()
        self.workdir = os.path.join(workdir, "postgres")
        os.makedirs(self.workdir, exist_ok=True)
        self.log_path = os.path.join(self.workdir, "postgres.log")
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="tidegate-pg-")
        os.chmod(self.root, 0o711)
        self.data = os.path.join(self.root, "data")
        self.socket_dir = os.path.join(self.root, "socket")
        self.password = secrets.token_hex(12)
        self.password_file = os.path.join(self.workdir, "pg.password")
        with open(self.password_file, "w") as f:
            f.write(self.password + "\n")
        self.conninfo = (f"host=127.0.0.1 port={self.port} dbname={self.DATABASE} "
                         f"user={self.USER}")
        self._initialized = False

    def _write_config(self):
        if self._initialized:
            return
        for folder in (self.socket_dir, self.data):
            os.makedirs(folder)
            shutil.chown(folder, "postgres", "postgres")
        os.chmod(self.data, 0o700)
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", os.path.join(self.bin, "initdb"), "-D", self.data,
             "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--no-locale", "--no-sync"],
            capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stdout}\n{result.stderr}")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.socket_dir}'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\n"
                    # Shared memory segments in the data folder, not /dev/shm: a server the
                    # tests kill with SIGKILL leaves its segments behind, and /dev/shm kept
                    # them (some 8 a CI run, about 0.5 MB each) until the machine restarted.
                    "dynamic_shared_memory_type = mmap\n")
        self._initialized = True
        self._needs_role = True

    def _argv(self):
        return [os.path.join(self.bin, "postgres"), "-D", self.data]

    def start(self):
        self._write_config()
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            # uid postgres directly (no runuser in between): the PID is the postmaster's.
            self.proc = subprocess.Popen(self._argv(), stdout=log, stderr=log, user="postgres",
                                         group="postgres", start_new_session=True, cwd=self.root)
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n"
                                   + open(self.log_path, errors="replace").read()[-3000:])
            if self.ping():
                break
            time.sleep(self.POLL)
        else:
            self.kill()
            raise TimeoutError(f"postgres not answering after {self.START_TIMEOUT}s")
        if getattr(self, "_needs_role", False):
            self.sql(f"CREATE ROLE {self.USER} LOGIN PASSWORD '{self.password}'",
                     database="postgres")
            self.sql(f"CREATE DATABASE {self.DATABASE} OWNER {self.USER}", database="postgres")
            self._needs_role = False
        self.start_seconds = time.monotonic() - began
        return self

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def ping(self):
        result = subprocess.run(
            [os.path.join(self.bin, "pg_isready"), "-q", "-h", self.socket_dir, "-p",
             str(self.port), "-t", "1"], capture_output=True, timeout=10)
        return result.returncode == 0

    def stop(self, timeout=20.0):
        """SIGINT by PID: PostgreSQL's fast shutdown (SIGTERM's smart one waits for clients)."""
        if not self.proc or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _pgid_kill(self.proc, signal.SIGKILL)
            return self.proc.wait(timeout=10)

    def sql(self, statement, database=None):
        """Rows of `statement` (run as the superuser over the socket), each a list of strings."""
        result = subprocess.run(
            [os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v",
             "ON_ERROR_STOP=1", "-h", self.socket_dir, "-p", str(self.port), "-U", "postgres",
             "-d", database or self.DATABASE, "-c", statement],
            capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {result.stderr}")
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def close(self):
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("dir")
    args = parser.parse_args()
    with Postgres(args.dir) as pg:
        print(f"conninfo={pg.conninfo}\npassword_file={pg.password_file}", flush=True)
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        try:
            while not stop:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
