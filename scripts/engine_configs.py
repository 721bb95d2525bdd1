#!/usr/bin/env python3
"""engine_configs.py — the private configurations of the content-security engines (CONTRACT §10)
that the e2e tests (tests/e2e/engines.py) and the demo (scripts/run-demo.sh) run: one place for
what docs/testing-engines.md describes.

- `write_rspamd(folder, port, dns_port)`: rspamd's normal worker alone on 127.0.0.1:<port>, the
  package's rules, no Redis, no remote maps or public lists, DNS only from the dnsmasq on
  127.0.0.1:<dns_port>; actions GTUBE / `X-Tidegate-Test: spam` → `reject`,
  `X-Tidegate-Test: suspect` → `add header`. Returns the command line.
- `write_clamd(folder, port, ...)`: clamd on 127.0.0.1:<port> with the database of
  scripts/make-test-clamav-db.py (EICAR and `Tidegate.Test.Signature`). Returns the command line.

As a command (run-demo.sh), it writes one configuration and then becomes the engine (exec), so
that the caller holds the engine's own PID:
  engine_configs.py rspamd FOLDER PORT DNS_PORT
  engine_configs.py clamd FOLDER PORT
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_db_script():
    """scripts/make-test-clamav-db.py as a module (its name has dashes: no plain import)."""
    spec = importlib.util.spec_from_file_location("make_test_clamav_db",
                                                  os.path.join(HERE, "make-test-clamav-db.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


clamav_db = _load_db_script()

# --------------------------------------------------------------------------------------------
# rspamd
# --------------------------------------------------------------------------------------------

# Modules that fetch remote maps or query public DNS lists: off (no internet here, and answers
# must not depend on it). Redis-backed modules disable themselves: no Redis is configured.
RSPAMD_DISABLED_MODULES = ("rbl", "emails", "phishing", "whitelist", "multimap", "fuzzy_check",
                           "asn", "mid", "mime_types", "greylist", "dkim_signing", "rspamd_update")

# Thresholds far above the score a plain message gets here, so that only GTUBE and the test
# header reach them.
RSPAMD_ACTIONS = "reject = 60;\nrewrite_subject = 40;\nadd_header = 20;\ngreylist = null;\n"
SUSPECT_SCORE = 30   # add_header <= 30 < rewrite_subject
SPAM_SCORE = 100     # >= reject

# The test header the local rspamd rule scores.
TEST_HEADER = "X-Tidegate-Test"


def rspamd_hs_cache_dir():
    """Compiled hyperscan databases (the URL TLD matcher alone takes 12-30 s to compile here) are
    kept between runs, shared by every private rspamd of this user: they depend only on the
    package's patterns and the CPU. TIDEGATE_RSPAMD_HS_CACHE moves them."""
    return os.environ.get("TIDEGATE_RSPAMD_HS_CACHE") or os.path.join(
        "/var/tmp", f"tidegate-rspamd-hs-cache-{os.getuid()}")


def rspamd_cache_is_cold():
    """True when the next rspamd start compiles its hyperscan databases (empty cache folder)."""
    folder = rspamd_hs_cache_dir()
    return not (os.path.isdir(folder) and os.listdir(folder))


def rspamd_log_path(folder):
    return os.path.join(folder, "log", "rspamd.log")


def write_rspamd(folder, port, dns_port):
    """Writes rspamd's configuration under `folder`; returns the command line that runs it."""
    for d in ("local.d", "override.d", "db", "run", "log"):
        os.makedirs(os.path.join(folder, d), exist_ok=True)
    hs_cache_dir = rspamd_hs_cache_dir()
    os.makedirs(hs_cache_dir, exist_ok=True)

    def put(rel, text):
        with open(os.path.join(folder, rel), "w") as f:
            f.write(text)

    put("rspamd.conf", f"""\
# tidegate private rspamd (scripts/engine_configs.py): the package's rules, this process setup.
.include "$CONFDIR/common.conf"
options {{
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
    .include(try=true; priority=10) "$LOCAL_CONFDIR/override.d/options.inc"
}}
logging {{
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "info";
}}
worker "normal" {{
    bind_socket = "127.0.0.1:{port}";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}}
""")
    put("local.d/options.inc", f"""\
dns {{
    nameserver = ["127.0.0.1:{dns_port}"];
    timeout = 1s;
    retransmits = 2;
}}
check_local = true;
check_authed = true;
hs_cache_dir = "{hs_cache_dir}";
""")
    for module in RSPAMD_DISABLED_MODULES:
        put(f"override.d/{module}.conf", "enabled = false;\n")
    put("override.d/actions.conf", RSPAMD_ACTIONS)
    put("local.d/regexp.conf", f"""\
TIDEGATE_TEST_SUSPECT {{
    re = "{TEST_HEADER}=/^\\\\s*suspect\\\\s*$/iH";
    score = {SUSPECT_SCORE}.0;
    description = "tidegate test header asking for a suspect verdict";
}}
TIDEGATE_TEST_SPAM {{
    re = "{TEST_HEADER}=/^\\\\s*spam\\\\s*$/iH";
    score = {SPAM_SCORE}.0;
    description = "tidegate test header asking for a positive verdict";
}}
""")
    # -i: as root, rspamd would switch to _rspamd, which cannot read a private temp folder.
    return ["rspamd", "-f", "-i", "-c", os.path.join(folder, "rspamd.conf"),
            f"--var=LOCAL_CONFDIR={folder}", f"--var=DBDIR={folder}/db",
            f"--var=RUNDIR={folder}/run", f"--var=LOGDIR={folder}/log"]


# --------------------------------------------------------------------------------------------
# clamd
# --------------------------------------------------------------------------------------------

def clamd_log_path(folder):
    return os.path.join(folder, "clamd.log")


def write_clamd(folder, port, stream_max_length="2M", local_socket=None, database=None):
    """Writes clamd's configuration under `folder` and, unless `database` names a folder of one's
    own, the project's test database into `folder`/db; returns the command line that runs it.
    `local_socket`: a unix socket path to listen on as well."""
    os.makedirs(os.path.join(folder, "tmp"), exist_ok=True)
    db = database
    if db is None:
        db = os.path.join(folder, "db")
        clamav_db.write(db)
    lines = [f"DatabaseDirectory {db}",
             f"TemporaryDirectory {folder}/tmp",
             f"LogFile {clamd_log_path(folder)}",
             "LogTime yes",
             "LogVerbose yes",
             f"PidFile {folder}/clamd.pid",
             "Foreground yes",
             "TCPAddr 127.0.0.1",
             f"TCPSocket {port}",
             f"StreamMaxLength {stream_max_length}",
             "AlertEncrypted yes",
             "ScanMail yes",
             "ScanArchive yes",
             "SelfCheck 0"]
    if local_socket:
        lines.append(f"LocalSocket {local_socket}")
    config = os.path.join(folder, "clamd.conf")
    with open(config, "w") as f:
        f.write("# tidegate private clamd (scripts/engine_configs.py)\n" + "\n".join(lines) + "\n")
    return ["clamd", "-c", config]


def main(argv):
    if len(argv) == 5 and argv[1] == "rspamd":
        command = write_rspamd(os.path.abspath(argv[2]), int(argv[3]), int(argv[4]))
    elif len(argv) == 4 and argv[1] == "clamd":
        command = write_clamd(os.path.abspath(argv[2]), int(argv[3]))
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
