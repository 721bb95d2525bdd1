"""slapd.py — an OpenLDAP slapd of the tests' own, the directory of CONTRACT §13's LDAP accept
query: run privately as a child process on a free 127.0.0.1 port from a generated slapd.conf in a
work folder, stopped by its PID (docs/testing-engines.md, "slapd").

    with Slapd(workdir) as slapd:
        slapd.uri, slapd.base, slapd.bind_dn, slapd.password, slapd.password_file
        slapd.searches()          # SRCH operations so far (its `-d stats` log): "never looked up"
        slapd.search_filters()    # their filters, as slapd logged them
        slapd.search_log()        # (connection number, filter) of each
        slapd.stop(); slapd.start()   # the same port and data after a restart

- back_mdb, the core/cosine/inetorgperson/misc schemas; suffix `dc=example,dc=com`.
- `cn=tidegate,dc=example,dc=com` binds with a random password (`password_file` holds it with a
  trailing newline). Bound users may read everything but passwords; anonymous clients may only
  bind (an anonymous search finds nothing).
- Users (USERS): `alice@example.com` (`mail`); `bob@example.com` with the alternate address
  `robert@example.com` (`mailLocalAddress`, objectClass inetLocalMailRecipient). No postmaster.

`python3 tests/e2e/slapd.py serve DIR [--port N] [--demo]` runs one until SIGINT/SIGTERM (the demo) and
prints `uri=…`, `base=…`, `bind_dn=…`, `password_file=…`, one a line, once it answers.
"""
import argparse
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engines import _EngineProcess  # noqa: E402
from harness import free_port  # noqa: E402

SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"
SCHEMAS = ("core", "cosine", "inetorgperson", "misc")
BASE = "dc=example,dc=com"

# uid → (mail, [alternate addresses])
USERS = {
    "alice": ("alice@example.com", []),
    "bob": ("bob@example.com", ["robert@example.com"]),
}
# `serve --demo` (make run): the README's recipients too (ceo@ is the Sales policy's).
DEMO_USERS = dict(USERS, ceo=("ceo@example.com", []))

# An anonymous LDAPv3 simple bind (message id 1), for the fixture's ping.
_ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")
_SEARCH_LINE = re.compile(r' conn=(\d+) op=\d+ SRCH base="[^"]*" scope=\d+ deref=\d+ filter="(.*)"$')


def _binary(name):
    for folder in ("/usr/sbin", "/usr/bin", "/sbin"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"{name} not installed (make deps: slapd)")


def people_ldif(base, bind_dn, password, users):
    entries = [
        f"dn: {base}\nobjectClass: dcObject\nobjectClass: organization\n"
        f"dc: {base.split(',')[0].split('=')[1]}\no: Example\n",
        f"dn: ou=people,{base}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {bind_dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: {bind_dn.split(',')[0].split('=')[1]}\nuserPassword: {password}\n",
    ]
    for uid, (mail, alternates) in users.items():
        entry = (f"dn: uid={uid},ou=people,{base}\nobjectClass: inetOrgPerson\n"
                 + ("objectClass: inetLocalMailRecipient\n" if alternates else "")
                 + f"uid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {mail}\n")
        entry += "".join(f"mailLocalAddress: {a}\n" for a in alternates)
        entries.append(entry)
    return "\n".join(entries)


class Slapd(_EngineProcess):
    """slapd on 127.0.0.1:<port> (a free one unless given) with its database in `workdir`/slapd,
    loaded with `users` by slapadd before the first start."""

    name = "slapd"
    START_TIMEOUT = 20.0
    POLL = 0.02

    def __init__(self, workdir, port=None, users=None):
        self.workdir = os.path.join(workdir, "slapd")
        self.port = port or free_port()
        self.base = BASE
        self.bind_dn = f"cn=tidegate,{BASE}"
        self.password = "pw-" + secrets.token_hex(8)
        self.password_file = os.path.join(self.workdir, "bind.password")
        self.users = USERS if users is None else users
        self.conf_path = os.path.join(self.workdir, "slapd.conf")
        self.log_path = os.path.join(self.workdir, "stderr.log")  # slapd -d stats writes here
        self._loaded = False

    @property
    def uri(self):
        return f"ldap://127.0.0.1:{self.port}"

    def _write_config(self):
        if self._loaded:
            return
        db = os.path.join(self.workdir, "db")
        os.makedirs(db, exist_ok=True)
        with open(os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                  "w") as f:
            f.write(self.password + "\n")  # as an operator's file usually is: with a newline
        includes = "".join(f"include {SCHEMA_DIR}/{s}.schema\n" for s in SCHEMAS)
        with open(self.conf_path, "w") as f:
            f.write(
                f"{includes}"
                f"pidfile {self.workdir}/slapd.pid\n"
                f"argsfile {self.workdir}/slapd.args\n"
                f"modulepath {MODULE_DIR}\n"
                "moduleload back_mdb\n"
                "database mdb\n"
                "maxsize 16777216\n"
                f'suffix "{self.base}"\n'
                f'rootdn "cn=admin,{self.base}"\n'
                f"directory {db}\n"
                "index objectClass eq\n"
                "index mail,mailLocalAddress eq\n"
                "access to attrs=userPassword by anonymous auth by * none\n"
                "access to * by users read by * none\n")
        ldif = os.path.join(self.workdir, "people.ldif")
        with open(ldif, "w") as f:
            f.write(people_ldif(self.base, self.bind_dn, self.password, self.users))
        subprocess.run([_binary("slaptest"), "-u", "-Q", "-f", self.conf_path], check=True,
                       timeout=30, capture_output=True)
        subprocess.run([_binary("slapadd"), "-q", "-f", self.conf_path, "-l", ldif], check=True,
                       timeout=30, capture_output=True)
        self._loaded = True

    def _argv(self):
        return [_binary("slapd"), "-d", "stats", "-f", self.conf_path, "-h", self.uri + "/"]

    def ping(self):
        """An anonymous bind answered (a BindResponse): slapd is serving, not only listening."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(_ANONYMOUS_BIND)
                reply = s.recv(64)
                return len(reply) > 5 and reply[0] == 0x30 and b"\x61" in reply[:8]
        except OSError:
            return False

    def search_log(self):
        """(connection number, filter) of each search slapd has received so far (over restarts;
        connection numbers start again at 1000 after a restart), in order."""
        try:
            with open(self.log_path, errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        return [(int(m.group(1)), m.group(2)) for m in map(_SEARCH_LINE.search, lines) if m]

    def search_filters(self):
        return [f for _, f in self.search_log()]

    def searches(self):
        return len(self.search_filters())

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def _serve(argv):
    parser = argparse.ArgumentParser(prog="slapd.py serve")
    parser.add_argument("dir")
    parser.add_argument("--port", type=int)
    parser.add_argument("--demo", action="store_true", help="the demo's users (DEMO_USERS)")
    args = parser.parse_args(argv)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with Slapd(os.path.abspath(args.dir), port=args.port,
               users=DEMO_USERS if args.demo else None) as slapd:
        print(f"uri={slapd.uri}\nbase={slapd.base}\nbind_dn={slapd.bind_dn}\n"
              f"password_file={slapd.password_file}\npid={slapd.pid}", flush=True)
        while not stop and slapd.proc.poll() is None:
            time.sleep(0.2)
    return 0 if stop else 1


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "serve":
        sys.exit("usage: slapd.py serve DIR [--port N]")
    sys.exit(_serve(sys.argv[2:]))
