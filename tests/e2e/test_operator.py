"""Operator surface (issue 5): tophosts equals what the sinks received, in the layout of
CONTRACT §6 and every sort order; track --mid shows reception, policy, delivery and the TDC line,
also after a restart; tdcconfig/policyconfig change journaling live and the file says so; no
endpoint answers without credentials."""
import base64
import json
import re
import smtplib
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import BIN, mid_of, wait_finished
from peers import Sink
from tdc_fixtures import A, B, intake_certs, tdc_gateway

C = "c2c2c2c2-0000-4000-8000-00000000000c@intake.test"


def cli(g, *args, check=True):
    r = subprocess.run([BIN, "-c", g.config_path, *args], capture_output=True, text=True,
                       timeout=60)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def send(g, rcpt, subject):
    msg = f"Subject: {subject}\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.sendmail("alice@sender.test", [rcpt], msg)


def wait_for(pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def assert_not_journaled(g, intake, subject, copies_before):
    """Waits until the message is finished, then checks it has no journal copy: a copy is made
    (and logged "generated based on MID") when the message is received, before it is delivered."""
    mid = mid_of(g, subject)
    log = wait_finished(g, [mid])
    assert f"generated based on MID {mid} " not in log, log
    assert len(intake.messages) == copies_before, "journaled while disabled"


def test_operator_commands_end_to_end():
    workdir = tempfile.mkdtemp(prefix="tidegate-op-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink(certs=certs) as intake, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            for i in range(3):
                send(g, f"joe{i}@example.com", f"op{i}")
            send(g, "ann@sales.example.com", "opsales")
            wait_for(lambda: len(next_hop.messages) == 4 and len(intake.messages) == 4)
            # 4 originals and 4 copies finished: their counters are final.
            wait_for(lambda: g.mail_log().count("Message finished MID") == 8)

            # --- tophosts: counts equal to what the sinks received, layout of §6 -------------
            out = cli(g, "tophosts").stdout.splitlines()
            assert out[0].startswith("Status as of:                ")
            assert out[1] == "Hosts marked with '*' were down as of the last delivery attempt."
            assert out[2] == ""
            assert out[3] == ("                                  Active   Conn.   Deliv.     Soft"
                              "     Hard")
            assert out[4] == ("#   Recipient Host                Recip.    Out    Recip.   "
                              "Bounced  Bounced")
            rows = {}
            for line in out[5:]:
                m = re.match(r"^(\d+)(\*?)\s+(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+"
                             r"([\d,]+)$", line)
                assert m, line
                assert len(line) == 75, line
                rows[m.group(3)] = [int(x.replace(",", "")) for x in m.groups()[3:]]
            assert rows["example.com"][2] == 3  # delivered to the next hop (joe0..2)
            assert rows["sales.example.com"][2] == 1
            assert rows["the.tdc.queue"][2] == len(intake.messages) == 4
            for sort in ("active", "conn", "delivered", "hard", "soft"):
                assert cli(g, "tophosts", sort).returncode == 0
            first = cli(g, "tophosts", "delivered").stdout.splitlines()[5]
            assert "the.tdc.queue" in first
            j = json.loads(cli(g, "tophosts", "--json").stdout)
            assert any(r["host"] == "the.tdc.queue" for r in j["rows"])
            assert cli(g, "tophosts", "bogus", check=False).returncode == 2
            assert cli(g, "status").stdout.startswith("Status of gw.test.example")
            assert "connections_in" in cli(g, "status", "--json").stdout
            assert cli(g, "workqueue").returncode == 0
            assert "Status: up" in cli(g, "hoststatus", "example.com").stdout

            # --- track --mid: reception, policy, delivery, TDC line; survives restart --------
            mid = re.search(r"MID (\d+) Subject 'op0'", g.mail_log()).group(1)
            # Tracking writes are batched (200 ms): wait for the delivery and the TDC events.
            wait_for(lambda: all(e in cli(g, "track", "--mid", mid).stdout for e in (
                "joe0@example.com received remote SMTP response",
                "successfully delivered for scanning")))
            lines = cli(g, "track", "--mid", mid).stdout.splitlines()
            text = "\n".join(lines)
            for line in lines:
                assert re.match(r"^\d\d \w{3} \d{4} \d\d:\d\d:\d\d \(GMT [+-]\d\d:\d\d\) ", line), line
            assert "received from <alice@sender.test>" in text
            assert "matched policy DEFAULT" in text
            assert "joe0@example.com received remote SMTP response" in text
            assert re.search(r"TDC: Message \d+ was successfully delivered for scanning with "
                             r"Secure Email Threat Defense\.", text)
            assert cli(g, "track", "--message-id", "<op1@sender.test>").returncode == 0
            assert "joe2@example.com" in cli(g, "track", "--recipient", "JOE2@example.com").stdout
            assert g.stop() == 0
            g.start()
            assert cli(g, "track", "--mid", mid).stdout.splitlines() == lines
            assert cli(g, "track", "--mid", "notanumber", check=False).returncode == 1

            # --- tdcconfig / policyconfig: live, validated, in the file ------------------------
            n = len(intake.messages)
            assert cli(g, "tdcconfig", "disable").returncode == 0
            send(g, "joe9@example.com", "afterdisable")
            wait_for(lambda: len(next_hop.messages) == 5)
            assert_not_journaled(g, intake, "afterdisable", n)
            assert cli(g, "tdcconfig", "enable", A).returncode == 0
            send(g, "joe10@example.com", "afterenable")
            wait_for(lambda: len(intake.messages) == n + 1)
            assert intake.messages[-1].rcpt_tos == [A]
            assert cli(g, "policyconfig", "tdc", "Sales", "custom", C).returncode == 0
            send(g, "ann@sales.example.com", "tocustom")
            wait_for(lambda: len(intake.messages) == n + 2)
            assert intake.messages[-1].rcpt_tos == [C]
            text = open(g.config_path).read()
            assert C in text and "enabled: true" in text
            assert cli(g, "check-config").returncode == 0
            listing = cli(g, "policyconfig", "list").stdout
            assert re.search(r"Sales\s+Enabled\s+" + re.escape(C), listing)
            assert re.search(r"Legal\s+Disabled", listing)
            assert re.search(r"Support\s+\(use default\)", listing)
            bad = cli(g, "policyconfig", "tdc", "DEFAULT", "default", check=False)
            assert bad.returncode == 1 and bad.stderr
            bad = cli(g, "tdcconfig", "enable", "not-an-address", check=False)
            assert bad.returncode == 1
            assert "admin: " in g.mail_log() and "tdcconfig" in g.mail_log()
        finally:
            g.cleanup()


def test_admin_requires_credentials_and_loopback():
    workdir = tempfile.mkdtemp(prefix="tidegate-op-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink() as dsn:
        g = tdc_gateway(workdir, 1, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            base = f"http://127.0.0.1:{g.admin_port}"
            for path in ("/api/v1/status", "/api/v1/tophosts", "/api/v1/tracking?mid=1",
                         "/api/v1/tdc", "/api/v1/policies", "/api/v1/nonexistent"):
                try:
                    urllib.request.urlopen(base + path, timeout=10)
                    raise AssertionError(f"{path} answered without credentials")
                except urllib.error.HTTPError as e:
                    assert e.code == 401, (path, e.code)
            req = urllib.request.Request(base + "/api/v1/status")
            req.add_header("Authorization",
                           "Basic " + base64.b64encode(b"admin:wrong").decode())
            try:
                urllib.request.urlopen(req, timeout=15)
                raise AssertionError("wrong password accepted")
            except urllib.error.HTTPError as e:
                assert e.code == 401
            req = urllib.request.Request(base + "/api/v1/status")
            req.add_header("Authorization",
                           "Basic " + base64.b64encode(b"admin:test-password").decode())
            assert urllib.request.urlopen(req, timeout=15).status == 200
            # bound to loopback only: not reachable on another local address
            with socket.socket() as s:
                s.settimeout(2)
                other = "127.0.0.2"
                assert s.connect_ex((other, g.admin_port)) != 0
        finally:
            g.cleanup()


def test_sighup_reload_applies_good_files_and_refuses_bad_ones():
    workdir = tempfile.mkdtemp(prefix="tidegate-op-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink(certs=certs) as intake, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            good = open(g.config_path).read()
            # A broken file: refused with FILE:LINE, the running configuration stays.
            with open(g.config_path, "w") as f:
                f.write(good.replace("  min_connections: 3\n", "  min_connections: lots\n"))
            g.proc.send_signal(1)  # SIGHUP
            g.wait_log("Configuration reload refused")
            assert re.search(re.escape(g.config_path) + r":\d+: threat_defense_connector"
                             r"\.min_connections", g.mail_log())
            send(g, "joe@example.com", "stillworks")
            wait_for(lambda: len(intake.messages) == 1)
            # A good file that turns the TDC off: applied without a restart.
            with open(g.config_path, "w") as f:
                f.write(good.replace("  enabled: true\n", "  enabled: false\n"))
            g.proc.send_signal(1)
            g.wait_log("Configuration reloaded from")
            send(g, "joe@example.com", "nojournal")
            wait_for(lambda: len(next_hop.messages) == 2)
            assert_not_journaled(g, intake, "nojournal", 1)
            assert g.proc.poll() is None
        finally:
            g.cleanup()
