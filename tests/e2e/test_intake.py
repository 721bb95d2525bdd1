"""The intake service (issue 7, CONTRACT §8): a gateway journals over verified TLS to a real
`tidegate intake`; each copy is unwrapped and shows up in the right account's JSON API with the
original's Message-ID, envelope sender and recipients and the remote IP the gateway recorded.
The intake refuses unknown intake addresses (550 5.1.1), requires STARTTLS when told (530), and
its console answers nothing without the right credentials (401)."""
import base64
import json
import os
import smtplib
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from harness import BIN, TidegateProcess, assert_smuggling_refused, free_port, http_raw
from peers import Sink
from tdc_fixtures import A, B, intake_certs, tdc_gateway

PASSWORD = "intake-test-password"


class Intake(TidegateProcess):
    """A `tidegate intake` process with its own data_dir; accounts default → A, sales → B."""

    def __init__(self, workdir, certs, require_tls=True, accounts=(("default", A), ("sales", B))):
        self.workdir = workdir
        self.port = free_port()
        self.console_port = free_port()
        self.data_dir = os.path.join(workdir, "intake-data")
        self.certs = certs
        self.config_path = os.path.join(workdir, "intake.yaml")
        with open(os.path.join(workdir, "intake.password"), "w") as f:
            f.write(PASSWORD + "\n")
        lines = [
            "hostname: intake.test",
            f"listen: 127.0.0.1:{self.port}",
            f"tls: {{certificate: {certs['cert']}, key: {certs['key']}}}",
            f"require_tls: {'true' if require_tls else 'false'}",
            "remote_ip_header: X-IronPort-RemoteIP",
            f"data_dir: {self.data_dir}",
            "console:",
            f"  bind: 127.0.0.1:{self.console_port}",
            "  user: admin",
            "  password_file: intake.password",
            "accounts:",
        ] + [f"  - {{name: {n}, intake_address: {a}}}" for n, a in accounts]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.spawn("intake", "intake-stderr.log", [self.port, self.console_port])
        return self

    def get(self, path, user="admin", password=PASSWORD):
        req = urllib.request.Request(f"http://127.0.0.1:{self.console_port}{path}")
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.headers, res.read()

    def messages(self, account):
        status, _, body = self.get(f"/api/v1/messages?account={account}")
        assert status == 200
        return json.loads(body)

    def wait_messages(self, account, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.messages(account)
            if len(got) >= n:
                return got
            time.sleep(0.1)
        raise AssertionError(f"account {account}: {self.messages(account)}")

    def mail_log(self):
        try:
            with open(os.path.join(self.data_dir, "mail_logs", "mail.current"),
                      encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, needle, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.mail_log():
                return
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not in the intake's log:\n{self.mail_log()}")

    def smtp(self):
        """An SMTP client that has done EHLO + verified STARTTLS."""
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        s.ehlo("client.test")
        s.starttls(context=ssl.create_default_context(cafile=self.certs["ca"]))
        s.ehlo("client.test")
        return s


def message(mid, subject):
    # A forged remote-IP header lower down must never be read: the gateway's comes first.
    return (f"From: alice@sender.test\r\nTo: someone\r\nSubject: {subject}\r\n"
            f"Message-ID: <{mid}@sender.test>\r\nX-IronPort-RemoteIP: 203.0.113.66\r\n\r\n"
            "line one\r\n.dotted\r\n").encode()


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="tidegate-intake-")
    yield path
    if os.environ.get("KEEP_TEST_DIRS") != "1":
        subprocess.run(["rm", "-rf", path], check=False)


def test_gateway_journals_to_the_right_accounts_over_verified_tls(workdir):
    certs = intake_certs(workdir)
    intake = Intake(workdir, certs).start()
    try:
        with Sink() as next_hop, Sink() as dsn:
            g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
            try:
                with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
                    s.sendmail("alice@sender.test", ["joe@example.com"], message("d1", "default"))
                    s.sendmail("alice@sender.test", ["ann@sales.example.com"],
                               message("s1", "for sales"))
                originals = {m.rcpt_tos[0]: m.data for m in next_hop.wait_messages(2)}

                default = intake.wait_messages("default", 1)
                assert len(default) == 1
                d = default[0]
                assert d["message_id"] == "<d1@sender.test>"
                assert d["sender"] == "alice@sender.test"
                assert d["recipients"] == ["joe@example.com"]
                assert d["subject"] == "default"
                assert d["remote_ip"] == "127.0.0.1"
                assert d["journal"] is True
                assert d["received_at"].endswith("Z")

                sales = intake.wait_messages("sales", 1)
                assert [m["message_id"] for m in sales] == ["<s1@sender.test>"]
                assert sales[0]["recipients"] == ["ann@sales.example.com"]
                assert sales[0]["remote_ip"] == "127.0.0.1"
                assert all(m["message_id"] != "<s1@sender.test>"
                           for m in intake.messages("default"))

                # The stored original is byte for byte what the next hop got for that recipient.
                _, headers, raw = intake.get(f"/messages/{d['id']}/raw")
                assert raw == originals["joe@example.com"]
                assert "attachment" in headers["Content-Disposition"]
                # The console pages show it too (escaped).
                _, _, page = intake.get("/accounts/default")
                assert b"&lt;d1@sender.test&gt;" in page and b"127.0.0.1" in page

                g.wait_log("successfully delivered for scanning")
                assert "TDC: Hard bounced" not in g.mail_log()
                intake.wait_log("stored for account default: journal report yes")
                assert "TLS success protocol TLSv1." in intake.mail_log()
            finally:
                g.cleanup()  # removes workdir, the intake's data_dir included
    finally:
        assert intake.stop() == 0


def test_unknown_intake_address_is_refused_at_rcpt(workdir):
    certs = intake_certs(workdir)
    intake = Intake(workdir, certs).start()
    try:
        with intake.smtp() as s:
            assert s.mail("")[0] == 250
            code, text = s.rcpt("00000000-0000-4000-8000-000000000000@intake.test")
            assert code == 550 and text.startswith(b"5.1.1"), (code, text)
            # The address of an account is accepted, whatever its case.
            assert s.rcpt(A.upper())[0] == 250
            # Not a journal report: stored as received and flagged.
            code, _ = s.data(b"Subject: plain\r\nMessage-ID: <p1@x.test>\r\n\r\nhello\r\n")
            assert code == 250
        stored = intake.wait_messages("default", 1)
        assert stored[0]["journal"] is False
        assert stored[0]["message_id"] == "<p1@x.test>"
        assert stored[0]["remote_ip"] == "127.0.0.1"
        assert intake.messages("sales") == []
    finally:
        assert intake.stop() == 0


def test_require_tls_gives_530_before_starttls(workdir):
    certs = intake_certs(workdir)
    intake = Intake(workdir, certs).start()
    try:
        with smtplib.SMTP("127.0.0.1", intake.port, timeout=30) as s:
            s.ehlo("client.test")
            assert s.has_extn("starttls")
            code, text = s.mail("")
            assert code == 530 and text.startswith(b"5.7.0"), (code, text)
    finally:
        intake.stop()


def test_console_needs_credentials(workdir):
    certs = intake_certs(workdir)
    intake = Intake(workdir, certs, require_tls=False).start()
    try:
        for path in ("/", "/api/v1/accounts", "/api/v1/messages?account=default", "/setup"):
            for user, password in ((None, None), ("admin", "wrong"), ("root", PASSWORD)):
                with pytest.raises(urllib.error.HTTPError) as e:
                    intake.get(path, user, password)
                assert e.value.code == 401, path
                assert e.value.headers["WWW-Authenticate"].startswith("Basic realm=")
                assert A.encode() not in e.value.read()
        status, _, body = intake.get("/api/v1/accounts")
        assert status == 200
        accounts = {a["name"]: a["intake_address"] for a in json.loads(body)}
        assert accounts == {"default": A, "sales": B}
        # A form posted without the session's CSRF token is refused.
        req = urllib.request.Request(
            f"http://127.0.0.1:{intake.console_port}/setup", method="POST",
            data=b"name=x&gateway=yes&header_choice=default&direction=incoming"
                 b"&visibility=visibility-only")
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode())
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 403
    finally:
        intake.stop()


def test_console_refuses_smuggling_and_answers_malformed_requests(workdir):
    """Issue 14: ambiguous framing is 400 and closes (nothing after it is served); malformed or
    oversized requests get a reply (400/413/431), not a silent close."""
    certs = intake_certs(workdir)
    intake = Intake(workdir, certs, require_tls=False).start()
    try:
        port = intake.console_port
        auth = b"Authorization: Basic " + base64.b64encode(f"admin:{PASSWORD}".encode())
        second = b"GET /api/v1/accounts HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n\r\n"
        assert_smuggling_refused(port, b"POST /setup HTTP/1.1\r\nHost: x\r\n", second)
        line = b"POST /setup HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
        cases = [
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", 431),
            (line + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd", 400),
            (line + b"Transfer-Encoding : chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n", 400),
            (line + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\nabcd", 400),
            (line + b"Content-Length: 200000\r\n\r\n", 413),
        ]
        for request, status in cases:
            data = http_raw(port, request)
            assert data.startswith(b"HTTP/1.1 %d " % status), (request[:60], data[:200])
            assert b"\r\nConnection: close\r\n" in data, data[:300]
        status, _, _ = intake.get("/api/v1/accounts")  # still serving
        assert status == 200
    finally:
        intake.stop()


def test_config_errors_and_missing_console_login(workdir):
    bad = os.path.join(workdir, "bad.yaml")
    with open(bad, "w") as f:
        f.write("listen: 127.0.0.1:0\ndata_dir: d\nrequire_tls: maybe\naccounts: []\n")
    out = subprocess.run([BIN, "-c", bad, "intake"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert f"{bad}:3: require_tls" in out.stderr, out.stderr
    # No console section means no password: the intake refuses to run without a login.
    nologin = os.path.join(workdir, "nologin.yaml")
    with open(nologin, "w") as f:
        f.write(f"listen: 127.0.0.1:{free_port()}\ndata_dir: d\n"
                f"accounts: [{{name: a, intake_address: {A}}}]\n")
    out = subprocess.run([BIN, "-c", nologin, "intake"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1
    assert "password_file" in out.stderr
