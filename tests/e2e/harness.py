"""harness.py — shared fixtures for tidegate's end-to-end tests.

Starts the real `tidegate` binary with a generated config on loopback ports, generates TLS
certificates with the openssl CLI, reads the mail log, and inspects the spool through the binary's
own `spool-dump` command. Every helper has a bounded wait; nothing here sleeps for long.
"""
import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import random
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ.get("TIDEGATE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tidegate")


def timing_slack():
    """TIDEGATE_TIMING_SLACK (default 1): the factor by which the `timing`-labelled tests
    (tests/CMakeLists.txt) relax their time bounds, and only those; scripts/sanitize.sh sets it
    because the instrumented binary is slower. Correctness checks never look at it."""
    slack = float(os.environ.get("TIDEGATE_TIMING_SLACK") or 1)
    assert slack >= 1, f"TIDEGATE_TIMING_SLACK={slack} would tighten the bounds"
    return slack


def interrupt(proc, timeout=60):
    """Ctrl-C for a script started with start_new_session (its trap stops what it started):
    SIGINT, then a bounded wait; a script that does not stop is killed with its group and the
    caller fails."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"{proc.args} did not stop on SIGINT")


# One per user: a file another user created could not be opened for writing (its mode, or
# fs.protected_regular in the sticky /tmp).
PORT_REGISTRY = os.path.join(tempfile.gettempdir(), f"tidegate-test-ports-{os.getuid()}.lock")
_registry_fd = None
_reserved = set()


def free_port():
    """A 127.0.0.1 TCP port free now, for a server the test starts next, and reserved for this
    process until it exits: no other free_port() caller, in this process or in a parallel test,
    hands it out again, even after the server on it stopped (a gateway killed and restarted on its
    ports, a sink restarted).

    - The reservation is a POSIX record lock on byte <port> of one file shared by all test
      processes of the user (PORT_REGISTRY). The kernel drops a process's locks when it exits,
      so a killed test leaves no stale reservation. The file is opened once per process and
      never closed: closing any descriptor of it would drop all of this process's locks.
    - Ports come from below the kernel's ephemeral range, so no outgoing connection of any
      process can take one as its local port between this call and the server's bind
      (`bind(0)` hands out ports from that range itself).

    CI saw both collisions: an ephemeral port taken in test_metrics (EADDRINUSE, session 11), and
    a kill -9 loop whose restarted gateway found its admin port taken (session 13)."""
    global _registry_fd
    if _registry_fd is None:
        _registry_fd = os.open(PORT_REGISTRY, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    low, high = port_range()
    rng = random.Random()
    for _ in range(5000):
        port = rng.randrange(low, high)
        if port in _reserved:
            continue
        try:
            fcntl.lockf(_registry_fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
        except OSError:
            continue  # another test process holds it
        _reserved.add(port)  # kept even if bound elsewhere: no use retrying it later
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError(f"no free port in [{low}, {high})")


def port_range():
    """[low, high): where free_port looks, from 10000 up to the kernel's ephemeral range."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    return 10000, max(10001, ephemeral_low)


def tcp_open(port, host="127.0.0.1"):
    """Something accepts TCP connections on host:port now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def udp_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        try:
            u.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_ports(names, udp=()):
    """{name: port}: distinct 127.0.0.1 ports free now for TCP (free_port), those named in `udp`
    for UDP too (for a demo script's ports: tests/e2e/test_demo_run.py, scripts/run-cluster.py)."""
    ports = {}
    for name in names:
        port = free_port()
        while name in udp and not udp_free(port):
            port = free_port()
        ports[name] = port
    return ports


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def read_reply(f):
    """One SMTP reply (all its lines, bytes with CRLF) from a socket's makefile("rb")."""
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line)
        if line[3:4] != b"-":
            return lines


def drain_until_closed(s, timeout=10):
    """Everything a socket still receives until the peer closes it (a reset counts as closed)."""
    data = b""
    s.settimeout(timeout)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return data


def http_raw(port, data, timeout=10):
    """Sends raw bytes to an HTTP server on 127.0.0.1:port and returns all it answers until it
    closes the connection (a timeout first raises: the server kept the connection open)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may answer and close before reading everything
        return drain_until_closed(s, timeout)
    finally:
        s.close()


def assert_smuggling_refused(port, head, second):
    """Request smuggling (issue 14): `head` (request line and headers, CRLF-terminated lines)
    with a Transfer-Encoding other than exactly `chunked`, with and without Content-Length,
    followed by the bytes of a `second` request on the same connection, must get one 400 with
    `Connection: close` and the connection closed: the second request is never answered."""
    for te in ("gzip", "identity", "xchunked", "chunked, identity"):
        for tail in (b"\r\n", b"Content-Length: 4\r\n\r\nabcd"):
            data = http_raw(port, head + b"Transfer-Encoding: " + te.encode() + b"\r\n" + tail +
                            second)
            assert data.startswith(b"HTTP/1.1 400 "), (te, tail, data[:200])
            assert b"\r\nConnection: close\r\n" in data, (te, data[:300])
            assert data.count(b"HTTP/1.") == 1, (te, tail, data)


def make_certs(directory, names=("localhost",), ips=("127.0.0.1",)):
    """A test CA and a server certificate signed by it. Returns dict of paths."""
    os.makedirs(directory, exist_ok=True)
    ca_key = os.path.join(directory, "ca.key")
    ca = os.path.join(directory, "ca.pem")
    key = os.path.join(directory, "server.key")
    csr = os.path.join(directory, "server.csr")
    cert = os.path.join(directory, "server.pem")
    ext = os.path.join(directory, "ext.cnf")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=tidegate test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={names[0]}")
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return {"ca": ca, "cert": cert, "key": key}


DEFAULT_POLICIES = """\
incoming_mail_policies:
  - name: DEFAULT
    threat_defense_connector: off
"""


class TidegateProcess:
    """A tidegate subcommand as a child process: start, graceful stop (SIGTERM), kill -9.
    Subclasses set self.workdir, self.config_path and self.proc = None."""

    def spawn(self, subcommand, stderr_name, ports, timeout=15.0):
        self.stderr = open(os.path.join(self.workdir, stderr_name), "ab")
        self.proc = subprocess.Popen([BIN, "-c", self.config_path, subcommand],
                                     stdout=self.stderr, stderr=self.stderr)
        try:
            for port in ports:
                wait_port(port, timeout=timeout, proc=self.proc)
        except RuntimeError as e:
            # The test's temp dir is gone by the time anyone reads CI's log: say why here.
            self.stderr.flush()
            with open(self.stderr.name, "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
            raise RuntimeError(f"{e}; tidegate {subcommand}'s output:\n{tail}") from None

    def stop(self, timeout=30.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.__class__.__name__} did not stop on SIGTERM")
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


class Gateway(TidegateProcess):
    """A tidegate gateway process with its own data_dir under a temp folder."""

    def __init__(self, workdir=None, tls=False, extra_yaml="", listener_extra="",
                 max_message_size="10M", accepted=("example.com", ".example.org"),
                 policies=DEFAULT_POLICIES, hold=True):
        self.workdir = workdir or tempfile.mkdtemp(prefix="tidegate-e2e-")
        self.data_dir = os.path.join(self.workdir, "data")
        self.port = free_port()
        self.admin_port = free_port()
        self.certs = make_certs(os.path.join(self.workdir, "certs")) if tls else None
        self.config_path = os.path.join(self.workdir, "gateway.yaml")
        self.proc = None
        tls_line = ""
        if self.certs:
            tls_line = (f"    tls: {{certificate: {self.certs['cert']}, "
                        f"key: {self.certs['key']}}}\n")
        if hold and "smtp_routes:" not in extra_yaml:
            # No next hop given: route our domains to a port where nothing listens, so that
            # accepted mail stays queued (retried later) instead of going out via DNS.
            dead = free_port()
            extra_yaml += "smtp_routes:\n" + "".join(
                f"  {d}: [127.0.0.1:{dead}]\n" for d in accepted)
        with open(os.path.join(self.workdir, "admin.password"), "w") as f:
            f.write("test-password\n")
        self.yaml = (
            "hostname: gw.test.example\n"
            f"data_dir: {self.data_dir}\n"
            "listeners:\n"
            "  - name: IncomingMail\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            f"{tls_line}"
            f"    max_message_size: {max_message_size}\n"
            "    max_connections: 1000\n"
            "    max_recipients: 1000\n"
            f"{listener_extra}"
            f"accepted_domains: [{', '.join(accepted)}]\n"
            "admin:\n"
            f"  bind: 127.0.0.1:{self.admin_port}\n"
            "  user: admin\n"
            "  password_file: admin.password\n"
            f"{extra_yaml}"
            f"{policies}")
        with open(self.config_path, "w") as f:
            f.write(self.yaml)

    # -- process control ------------------------------------------------------------------
    def start(self, timeout=15.0):
        self.spawn("serve", "stderr.log", [self.port], timeout)
        return self

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if os.environ.get("KEEP_TEST_DIRS") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- inspection -------------------------------------------------------------------------
    def mail_log(self):
        path = os.path.join(self.data_dir, "mail_logs", "mail.current")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, needle, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.mail_log():
                return
            time.sleep(0.05)
        raise AssertionError(f"log line containing {needle!r} not seen; log:\n{self.mail_log()}")

    def api(self, path, body=None, method=None):
        """(status, parsed JSON) of an admin API call with the test's credentials (HTTP Basic);
        `body` (JSON) makes it a POST unless `method` says otherwise."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.admin_port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method or ("GET" if body is None else "POST"),
            headers={"Content-Type": "application/json",
                     "Authorization": "Basic " + base64.b64encode(b"admin:test-password").decode()})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def spool_dump(self):
        """Every live message in the spool (gateway must be stopped): list of dicts."""
        out = subprocess.run([BIN, "-c", self.config_path, "spool-dump", "--bodies"],
                             check=True, capture_output=True, timeout=60)
        return json.loads(out.stdout)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def strip_trace(data: bytes) -> bytes:
    """The message as the client sent it: drop our Received: (folded) and remote-IP headers."""
    assert data.startswith(b"Received: from "), data[:200]
    rest = data.split(b"\r\nX-IronPort-RemoteIP: 127.0.0.1\r\n", 1)
    assert len(rest) == 2, data[:400]
    return rest[1]


def mid_of(g, subject, timeout=10.0):
    """The MID of the message received with this Subject, from the mail log."""
    quoted = repr(subject)  # the log quotes values as Python's repr() does (as the ESA)
    g.wait_log(f"Subject {quoted}", timeout=timeout)
    return re.search(rf"MID (\d+) Subject {re.escape(quoted)}", g.mail_log()).group(1)


def wait_finished(g, mids, timeout=30.0):
    """The mail log once every MID in `mids` has its "Message finished" line: from then on no
    attempt for them can come, and their DSNs ("MID d was generated for bounce of MID m") and
    journal copies ("MID j generated based on MID m") are all logged, being logged first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = g.mail_log()
        if all(f"Message finished MID {m} done" in log for m in mids):
            return log
        time.sleep(0.05)
    raise AssertionError(f"not all of MIDs {list(mids)} finished; log:\n{g.mail_log()}")
