"""the.tdc.queue retry table against a scripted intake (issue 4, CONTRACT §4): 550 → one attempt;
451, 503, 552 → two; no STARTTLS or a bad certificate → one connection, no plaintext transaction;
connection refused → two attempts; NXDOMAIN → hard bounce. Originals always arrive; a copy goes out
with the null sender and its failure makes no DSN. (That the.tdc.queue sends no DSN whatever a
copy's sender is, the rule itself, is tested in src/queue/rules_test.cc, SendsDsn: no end-to-end
test can tell it from the null-sender rule.)"""
import os
import re
import smtplib
import tempfile
import threading
import time

import pytest

import json
import subprocess

from harness import BIN, free_port, make_certs
from peers import Dnsmasq, Sink
from tdc_fixtures import A, intake_certs, tdc_gateway

MSG = b"Subject: fault test\r\nMessage-ID: <fault@sender.test>\r\n\r\nbody\r\n"


def send(g, rcpt="joe@example.com"):
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.sendmail("alice@sender.test", [rcpt], MSG)


def tdc_row(g):
    """The the.tdc.queue row of tophosts, via the operator command."""
    out = subprocess.run([BIN, "-c", g.config_path, "tophosts", "--json"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    rows = [r for r in json.loads(out)["rows"] if r["host"] == "the.tdc.queue"]
    assert len(rows) == 1, out
    return rows[0]


def assert_counters(g, attempts):
    row = tdc_row(g)
    assert (row["delivered"], row["soft_bounced"], row["hard_bounced"], row["active"]) == \
        (0, attempts - 1, 1, 0), row


def assert_no_dsn(log):
    """A DSN is logged ("was generated for bounce") before its message's "Message finished" line,
    which wait_terminal() waited for: this log is final."""
    assert "was generated for bounce" not in log, log


def wait_terminal(g, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = g.mail_log()
        if re.search(r"TDC: MID \d+ (successfully delivered|delivery failed)", log):
            jmid = re.search(r"MID (\d+) generated based on", log).group(1)
            if f"Message finished MID {jmid} done" in log:
                return log
        time.sleep(0.05)
    raise AssertionError("no terminal TDC line:\n" + g.mail_log())


class Counter:
    def __init__(self, reply, stage):
        self.n = 0
        self.lock = threading.Lock()
        self.reply = reply
        self.stage = stage

    def rcpt(self, address):
        if self.stage != "rcpt":
            return None
        with self.lock:
            self.n += 1
        return self.reply

    def data(self, envelope):
        if self.stage != "data":
            return None
        with self.lock:
            self.n += 1
        return self.reply


@pytest.mark.parametrize("reply,stage,attempts", [
    ("550 5.1.1 Unknown intake account", "rcpt", 1),
    ("554 5.7.1 Rejected", "data", 1),
    ("451 4.3.0 Try later", "rcpt", 2),
    ("503 5.5.1 Bad sequence", "rcpt", 2),
    ("552 5.3.4 Too big", "data", 2),
])
def test_smtp_replies_follow_the_retry_table(reply, stage, attempts):
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    counter = Counter(reply, stage)
    with Sink() as next_hop, Sink() as dsn, \
            Sink(certs=certs, require_tls=True, rcpt_reply=counter.rcpt,
                 data_reply=counter.data) as intake:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            send(g)
            next_hop.wait_messages(1)
            # The copy finished: no further attempt can come, a wrong extra retry was made before.
            log = wait_terminal(g)
            assert counter.n == attempts, (counter.n, log)
            assert len(intake.mail_froms) == attempts, intake.mail_froms
            assert all(f in ("", "<>") for f in intake.mail_froms), intake.mail_froms
            log = g.mail_log()
            if attempts == 1:
                assert re.search(r"TDC: Hard bounced - 5\.\d\.\d - ", log)
                assert "will be retried" not in log
            else:
                assert len(re.findall(r"TDC: MID \d+ will be retried in \d+ seconds: ", log)) == 1
                assert re.search(r"TDC: MID \d+ removed from the.tdc.queue: retries exhausted", log)
            assert re.search(r"TDC: MID \d+ delivery failed to Secure Email Threat Defense: ", log)
            assert_counters(g, attempts)
            assert_no_dsn(log)
        finally:
            g.cleanup()


@pytest.mark.parametrize("variant", ["no-starttls", "bad-certificate"])
def test_tls_failure_one_connection_no_plaintext(variant):
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    other = make_certs(os.path.join(workdir, "other-ca"), names=("intake.test",))
    intake_kw = {} if variant == "no-starttls" else {"certs": other}
    with Sink() as next_hop, Sink() as dsn, Sink(**intake_kw) as intake:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            send(g)
            next_hop.wait_messages(1)
            log = wait_terminal(g)
            assert intake.connections == 1, intake.connections
            assert not intake.mail_froms and not intake.messages
            assert re.search(r"TDC: Connection Error: DCID \d+ domain: the.tdc.queue IP: "
                             r"127.0.0.1 port: \d+ details: .* reason: TLS error", log)
            assert "will be retried" not in g.mail_log()
            assert_counters(g, 1)
            assert_no_dsn(log)
        finally:
            g.cleanup()


def test_connection_refused_two_attempts():
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    dead = free_port()
    with Sink() as next_hop, Sink() as dsn:
        g = tdc_gateway(workdir, dead, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            send(g)
            next_hop.wait_messages(1)
            log = wait_terminal(g)
            assert len(re.findall(r"TDC: Connection Error: DCID 0 domain: the.tdc.queue IP: "
                                  rf"127.0.0.1 port: {dead} details: ", log)) == 2
            assert len(re.findall(r"will be retried in \d+ seconds", log)) == 1
            assert "removed from the.tdc.queue: retries exhausted" in log
            assert_counters(g, 2)
            assert_no_dsn(log)
        finally:
            g.cleanup()


def test_nxdomain_hard_bounce():
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink() as dsn, Dnsmasq([]) as dns:
        g = tdc_gateway(workdir, 0, next_hop.port, dsn.port, certs["ca"], intake_route=False,
                        extra=f"dns: {{servers: [127.0.0.1:{dns.port}]}}\n").start()
        try:
            send(g)
            next_hop.wait_messages(1)
            log = wait_terminal(g)
            assert "DNS Error intake.test MX - NXDomain" in log
            assert re.search(r"TDC: Hard bounced - 5\.1\.2 - ", log)
            assert "will be retried" not in log
            assert_counters(g, 1)
            assert_no_dsn(log)
        finally:
            g.cleanup()
