"""engines.py — the real content-security engines of CONTRACT §10 as test fixtures: rspamd 3.4
and ClamAV clamd 1.4, each run privately as a child process on free 127.0.0.1 ports with a generated
configuration (scripts/engine_configs.py, which the demo uses too), stopped by its PID
(docs/testing-engines.md has the facts these rely on).

- `Rspamd(workdir, dns_port=None)`: the package's rules, no Redis, no remote maps or public lists,
  DNS only from a loopback dnsmasq (its own, answering nothing, when no port is given); actions
  GTUBE / `X-Tidegate-Test: spam` → `reject`, `X-Tidegate-Test: suspect` → `add header`.
- `Clamd(workdir, ...)`: the database of scripts/make-test-clamav-db.py (EICAR and the project
  signature `Tidegate.Test.Signature`), `AlertEncrypted yes`, a TCP and optionally a unix socket.
- Test messages (`clean_message`, `gtube_message`, `eicar_attachment_message`, ...) and the
  engines' own protocols from Python (`rspamd_check`, `clamd_scan`), which the fixture tests use to
  prove what the product tests rely on.
- `auth_records()`: dnsmasq TXT records giving SPF/DMARC pass (`AUTH_PASS_DOMAIN`) and fail
  (`AUTH_FAIL_DOMAIN`) for mail from 127.0.0.1.

Every wait is bounded; nothing sleeps for long.
"""
import email.message
import email.policy
import email.utils
import http.client
import importlib.util
import io
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zipfile

from harness import free_port
from peers import Dnsmasq

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _load_engine_configs():
    """scripts/engine_configs.py (the engines' configurations, shared with the demo) as a module."""
    path = os.path.join(REPO, "scripts", "engine_configs.py")
    spec = importlib.util.spec_from_file_location("engine_configs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


engine_configs = _load_engine_configs()
clamav_db = engine_configs.clamav_db

EICAR = clamav_db.eicar()
TEST_SIGNATURE_MARKER = clamav_db.TEST_SIGNATURE_MARKER
# The names clamd reports (names from an unsigned database get ".UNOFFICIAL").
EICAR_NAME = clamav_db.EICAR_NAME + ".UNOFFICIAL"
TEST_SIGNATURE_NAME = clamav_db.TEST_SIGNATURE_NAME + ".UNOFFICIAL"
ENCRYPTED_ZIP_NAME = "Heuristics.Encrypted.Zip"

# GTUBE, the spam test string, assembled like EICAR so that this file is not itself spam.
GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*" + "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X").encode()

# The test header the local rspamd rule scores (Rspamd below).
TEST_HEADER = engine_configs.TEST_HEADER


def _group_members(pgid):
    """PIDs of the live (not zombie) processes in process group `pgid`, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _pgid_kill(proc, sig):
    """Signals the process group the fixture started (its leader is `proc`, by PID). For SIGKILL,
    waits (bounded) until every member is gone: a killed rspamd worker keeps the listening socket
    until it has really exited, some milliseconds after its main process."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    if sig == signal.SIGKILL:
        deadline = time.monotonic() + 10
        while _group_members(proc.pid):
            assert time.monotonic() < deadline, f"process group {proc.pid} survives SIGKILL"
            time.sleep(0.01)


def _stop_child(proc, timeout):
    """SIGTERM to the child by PID, a bounded wait, then SIGKILL to its group (the engine failed
    to stop: the caller is told). Returns the exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _pgid_kill(proc, signal.SIGKILL)
            proc.wait(timeout=10)
            raise AssertionError(f"{proc.args[0]} (pid {proc.pid}) did not stop on SIGTERM")
    # Children the leader left behind (rspamd's workers after a crash) go with the group.
    _pgid_kill(proc, signal.SIGKILL)
    return proc.returncode


def _tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log)"


class _EngineProcess:
    """An engine as a child process in its own process group: subclasses set `name`, `workdir`,
    `log_path`, `START_TIMEOUT`, `POLL` and write `_write_config()`, `_argv()` and `ping()`."""

    proc = None
    start_seconds = None  # how long the last start took until the engine answered its ping

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        self._write_config()
        stderr_path = os.path.join(self.workdir, "stderr.log")
        began = time.monotonic()
        with open(stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self._argv(), stdout=err, stderr=err,
                                         start_new_session=True)
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{_tail(stderr_path)}\n{_tail(self.log_path)}")
            if self.ping():
                self.start_seconds = time.monotonic() - began
                return self
            time.sleep(self.POLL)
        _pgid_kill(self.proc, signal.SIGKILL)
        self.proc.wait(timeout=10)
        raise TimeoutError(f"{self.name} not answering after {self.START_TIMEOUT}s:\n"
                           f"{_tail(self.log_path)}")

    def stop(self, timeout=20.0):
        """SIGTERM by PID (rspamd stops its workers itself), bounded; returns the exit status."""
        return _stop_child(self.proc, timeout)

    def kill(self):
        """SIGKILL to the engine and its children (the process group it leads)."""
        if self.proc and self.proc.poll() is None:
            _pgid_kill(self.proc, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self):
        """Stops (if running) and starts again on the same port."""
        self.stop()
        return self.start()

    def close(self):
        self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------
# rspamd
# --------------------------------------------------------------------------------------------

class Rspamd(_EngineProcess):
    """rspamd's normal worker alone (count = 1) on 127.0.0.1:<free port>, as a child process.
    `dns_port`: a dnsmasq on 127.0.0.1 to use as the only nameserver; without one, the fixture
    starts its own (it answers nothing outside what it is given), so that the checks on HELO,
    `Hostname` and domains never leave the machine."""

    name = "rspamd"
    START_TIMEOUT = 40.0       # 1.5-3.1 s measured with the hyperscan cache (testing-engines.md)
    COLD_START_TIMEOUT = 90.0  # an empty cache: 12-34 s measured, compiling; once per machine
    POLL = 0.1

    def __init__(self, workdir, dns_port=None):
        self.workdir = os.path.join(workdir, "rspamd")
        self.port = free_port()
        self.dns_port = dns_port
        self.own_dns = None
        self.log_path = engine_configs.rspamd_log_path(self.workdir)

    def _write_config(self):
        if self.dns_port is None:
            self.own_dns = Dnsmasq([]).start()
            self.dns_port = self.own_dns.port
        if engine_configs.rspamd_cache_is_cold():
            self.START_TIMEOUT = self.COLD_START_TIMEOUT
        self._command = engine_configs.write_rspamd(self.workdir, self.port, self.dns_port)

    def _argv(self):
        return self._command

    def ping(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            c.request("GET", "/ping")
            r = c.getresponse()
            return r.status == 200 and r.read().strip() == b"pong"
        except OSError:
            return False

    def check(self, message, **headers):
        return rspamd_check(self.port, message, **headers)

    def close(self):
        try:
            self.kill()
        finally:
            if self.own_dns:
                self.own_dns.stop()


def rspamd_check(port, message, ip="127.0.0.1", helo="client.test", mail_from=None, rcpt=None,
                 hostname=None, queue_id=None, timeout=15.0):
    """POST /checkv2 as the gateway will (CONTRACT §10 headers); returns the decoded JSON."""
    headers = {"IP": ip, "Helo": helo}
    if mail_from is not None:
        headers["From"] = mail_from
    if rcpt is not None:
        headers["Rcpt"] = rcpt
    if hostname is not None:
        headers["Hostname"] = hostname
    if queue_id is not None:
        headers["Queue-Id"] = queue_id
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/checkv2", body=message, headers=headers)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body[:500])
        return json.loads(body)
    finally:
        c.close()


# --------------------------------------------------------------------------------------------
# clamd
# --------------------------------------------------------------------------------------------

class Clamd(_EngineProcess):
    """clamd on 127.0.0.1:<free port> (and `local_socket=True`: a unix socket, `.socket`) with the
    project's test database, as a child process. `stream_max_length`: clamd's StreamMaxLength."""

    name = "clamd"
    START_TIMEOUT = 30.0
    POLL = 0.05

    def __init__(self, workdir, stream_max_length="2M", local_socket=False, database=None):
        self.workdir = os.path.join(workdir, "clamd")
        self.port = free_port()
        self.stream_max_length = stream_max_length
        self.socket = os.path.join(self.workdir, "clamd.ctl") if local_socket else None
        self.database = database  # a folder with a database of one's own, instead of the project's
        self.log_path = engine_configs.clamd_log_path(self.workdir)

    def _write_config(self):
        self._command = engine_configs.write_clamd(self.workdir, self.port,
                                                   self.stream_max_length, self.socket,
                                                   self.database)

    def _argv(self):
        return self._command

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"zPING\0")
                return _read_reply(s) == b"PONG"
        except OSError:
            return False

    def scan(self, data, **kw):
        return clamd_scan(("127.0.0.1", self.port), data, **kw)


def _read_reply(s):
    """One NUL-terminated clamd reply (z-commands), without the NUL; what came if clamd closed."""
    data = b""
    while not data.endswith(b"\0"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.rstrip(b"\0")


def clamd_scan(address, data, chunk_size=65536, timeout=30.0):
    """zINSTREAM: `address` is (host, port) or a unix socket path. Returns clamd's reply as text
    (`stream: OK`, `stream: <name> FOUND`, `INSTREAM size limit exceeded. ERROR`). A write that
    fails because clamd closed is not an error: its reply is read all the same."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(address)
        try:
            s.sendall(b"zINSTREAM\0")
            for i in range(0, len(data), chunk_size):
                chunk = data[i:i + chunk_size]
                s.sendall(struct.pack("!I", len(chunk)) + chunk)
            s.sendall(struct.pack("!I", 0))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return _read_reply(s).decode(errors="replace")
        except ConnectionResetError:
            return ""


# --------------------------------------------------------------------------------------------
# Test messages
# --------------------------------------------------------------------------------------------

def _message(subject, body, mail_from="sender@client.test", to="user@example.com",
             headers=None, attachments=()):
    """A MIME message as bytes with CRLF line ends. attachments: (filename, bytes, mime type)."""
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = mail_from
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = "Sat, 05 Dec 2026 12:00:00 +0000"
    m["Message-ID"] = email.utils.make_msgid(domain="client.test")
    for name, value in (headers or {}).items():
        m[name] = value
    m.set_content(body)
    for filename, data, mime in attachments:
        maintype, subtype = mime.split("/", 1)
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return m.as_bytes()


CLEAN_BODY = ("Hello,\n\nthe minutes of Tuesday's meeting are below. We agreed to move the review "
              "to Thursday afternoon and to keep the agenda short.\n\nRegards,\nAlice\n")


def clean_message(subject="Meeting minutes", **kw):
    return _message(subject, CLEAN_BODY, **kw)


def gtube_message(subject="GTUBE test", **kw):
    return _message(subject, "This is the GTUBE test string:\n\n" + GTUBE.decode() + "\n", **kw)


def suspect_message(subject="Suspect test", **kw):
    """rspamd: `add header` (TIDEGATE_TEST_SUSPECT), i.e. a suspect verdict."""
    headers = dict(kw.pop("headers", None) or {}, **{TEST_HEADER: "suspect"})
    return _message(subject, CLEAN_BODY, headers=headers, **kw)


def spam_message(subject="Spam test", **kw):
    """rspamd: `reject` (TIDEGATE_TEST_SPAM), i.e. a positive verdict without GTUBE."""
    headers = dict(kw.pop("headers", None) or {}, **{TEST_HEADER: "spam"})
    return _message(subject, CLEAN_BODY, headers=headers, **kw)


def eicar_attachment_message(subject="EICAR attached", **kw):
    """EICAR as a base64 MIME attachment."""
    return _message(subject, CLEAN_BODY, attachments=[("eicar.com", EICAR,
                                                       "application/octet-stream")], **kw)


def zip_bytes(files):
    """A zip made with Python's zipfile: files = {name: bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def eicar_zip_message(subject="EICAR zipped", **kw):
    return _message(subject, CLEAN_BODY, attachments=[("eicar.zip", zip_bytes({"eicar.com": EICAR}),
                                                       "application/zip")], **kw)


def encrypted_zip_bytes(workdir, files, password="tidegate"):
    """A password-protected zip (ZipCrypto) made by Info-ZIP `zip -P` (Debian package `zip`;
    Python's zipfile cannot write encrypted archives)."""
    folder = tempfile.mkdtemp(prefix="enczip-", dir=workdir)
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    out = os.path.join(folder, "out.zip")
    subprocess.run(["zip", "-q", "-P", password, out, *files], cwd=folder, check=True,
                   capture_output=True, timeout=30)
    with open(out, "rb") as f:
        return f.read()


def encrypted_zip_message(workdir, subject="Encrypted zip", **kw):
    """An encrypted zip attachment (clamd with AlertEncrypted: Heuristics.Encrypted.Zip, i.e.
    unscannable). Its content is harmless text."""
    data = encrypted_zip_bytes(workdir, {"report.txt": CLEAN_BODY.encode()})
    return _message(subject, CLEAN_BODY, attachments=[("report.zip", data, "application/zip")],
                    **kw)


def project_signature_message(subject="Project test signature", **kw):
    """A body carrying the project test signature's marker (clamd: Tidegate.Test.Signature)."""
    return _message(subject, CLEAN_BODY + "\n" + TEST_SIGNATURE_MARKER + "\n", **kw)


# --------------------------------------------------------------------------------------------
# SPF / DMARC records for dnsmasq
# --------------------------------------------------------------------------------------------

AUTH_PASS_DOMAIN = "spf-pass.test"  # SPF allows 127.0.0.1
AUTH_FAIL_DOMAIN = "spf-fail.test"  # SPF allows only 192.0.2.1 (TEST-NET-1), "-all"


def auth_records():
    """dnsmasq options (Dnsmasq(records)) for the two sending domains and their DMARC policies."""
    return [f"--txt-record={AUTH_PASS_DOMAIN},v=spf1 ip4:127.0.0.1 -all",
            f"--txt-record=_dmarc.{AUTH_PASS_DOMAIN},v=DMARC1; p=reject",
            f"--txt-record={AUTH_FAIL_DOMAIN},v=spf1 ip4:192.0.2.1 -all",
            f"--txt-record=_dmarc.{AUTH_FAIL_DOMAIN},v=DMARC1; p=reject"]
