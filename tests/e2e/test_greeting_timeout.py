"""A peer that accepts TCP and never sends its greeting is given up after delivery.connect_timeout
("TCP connect and greeting", docs/configuration.md), not after command_timeout (found by the TDC
soak, issue 9: a blackholed intake held the.tdc.queue's only probe connection for the whole
command_timeout, 300 s by default, so that no copy was even attempted meanwhile). Wall time: ~15 s.
"""
import re
import smtplib
import tempfile
import time

from harness import free_port
from peers import Blackhole, Sink
from tdc_fixtures import intake_certs, tdc_gateway

TIMEOUTS = "  connect_timeout: 2s\n  command_timeout: 300s\n"
MSG = b"Subject: greeting\r\nMessage-ID: <greeting@sender.test>\r\n\r\nbody\r\n"


def send(g, rcpt):
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.sendmail("alice@sender.test", [rcpt], MSG)


def wait_for(g, pattern, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, g.mail_log())
        if m:
            return m
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not logged within {timeout}s:\n{g.mail_log()[-3000:]}")


def test_silent_intake_is_given_up_after_connect_timeout():
    workdir = tempfile.mkdtemp(prefix="tidegate-greet-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink() as dsn, Blackhole() as hole:
        g = tdc_gateway(workdir, hole.port, next_hop.port, dsn.port, certs["ca"],
                        max_queue_time="60s", retry_delay="1s", delivery_extra=TIMEOUTS).start()
        try:
            send(g, "joe@example.com")
            next_hop.wait_messages(1)
            start = time.time()
            # Two attempts (the TDC retries a connection error once), each given up after 2 s.
            wait_for(g, r"TDC: MID \d+ will be retried in \d+ seconds: .*timeout", 6)
            wait_for(g, r"TDC: MID \d+ removed from the.tdc.queue: retries exhausted", 8)
            wait_for(g, r"TDC: MID \d+ delivery failed to Secure Email Threat Defense: retries "
                        r"exhausted", 1)
            assert time.time() - start < 10
            assert len(re.findall(r"TDC: Connection Error: DCID \d+ domain: the.tdc.queue .*"
                                  r"timeout", g.mail_log())) == 2, g.mail_log()[-3000:]
        finally:
            g.cleanup()


def test_silent_next_hop_is_given_up_after_connect_timeout():
    workdir = tempfile.mkdtemp(prefix="tidegate-greet-")
    certs = intake_certs(workdir)
    with Sink() as dsn, Blackhole() as hole:
        g = tdc_gateway(workdir, free_port(), hole.port, dsn.port, certs["ca"],
                        delivery_extra=TIMEOUTS).start()
        try:
            start = time.time()
            send(g, "joe@legal.example.com")  # Legal: no journal copy
            wait_for(g, r"Delayed: DCID \d+ MID \d+ to RID 0 - 4\.\d\.\d - ", 6)
            assert time.time() - start < 6
        finally:
            g.cleanup()
