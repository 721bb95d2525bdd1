"""Durable queue state (issue 15): a message's delivery attempts and its next attempt time are kept
in the spool, so that kill -9 and a restart neither retry early nor grant new retries, and a journal
copy's lifetime counts from when it was made.

Each scenario waits for the log line that proves the state it kills in (the deferral is logged only
once its schedule is durable), kills the gateway with SIGKILL, restarts it, and counts what the
peers saw."""
import contextlib
import re
import smtplib
import tempfile
import threading
import time

from harness import Gateway
from peers import Blackhole, Sink
from tdc_fixtures import intake_certs, tdc_gateway


def send(gateway, rcpt, subject):
    msg = f"Subject: {subject}\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=20) as s:
        s.sendmail("alice@sender.test", [rcpt], msg)


def journal_mid(gateway):
    gateway.wait_log("generated based on MID")
    return re.search(r"MID (\d+) generated based on MID", gateway.mail_log()).group(1)


class Attempts:
    """Counts RCPTs at a peer (with their times) and answers them from a script."""

    def __init__(self, replies):
        self.replies = list(replies)  # one reply per attempt; None = accept; the last repeats
        self.times = []
        self.lock = threading.Lock()

    def __call__(self, address):
        with self.lock:
            self.times.append(time.time())
            n = len(self.times)
        return self.replies[min(n, len(self.replies)) - 1]

    def count(self):
        with self.lock:
            return len(self.times)


@contextlib.contextmanager
def tdc_scenario(intake_replies, next_hop, retry_delay):
    """A started TDC gateway whose TLS intake answers RCPT from `intake_replies` (counted by the
    Attempts it yields); `next_hop` (a peer, started and stopped here) takes the originals."""
    workdir = tempfile.mkdtemp(prefix="tidegate-e2e-")
    certs = intake_certs(workdir)
    attempts = Attempts(intake_replies)
    with Sink(certs=certs, require_tls=True, rcpt_reply=attempts) as intake, next_hop, \
            Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"],
                        max_queue_time="60s", retry_delay=retry_delay)
        g.start()
        try:
            yield g, attempts
        finally:
            g.cleanup()


def test_deferred_journal_copy_gets_exactly_one_more_attempt_after_kill9():
    with tdc_scenario(["451 4.3.0 intake busy"], Sink(), "5s") as (g, attempts):
        send(g, "bob@example.com", "tdc-restart")
        jmid = journal_mid(g)
        g.wait_log(f"TDC: MID {jmid} will be retried in")
        assert attempts.count() == 1
        g.kill()
        g.start()
        g.wait_log(f"TDC: MID {jmid} delivery failed to", timeout=30)
        log = g.mail_log()
        assert attempts.count() == 2, f"intake saw {attempts.count()} attempts"
        # The second attempt came at the stored retry time, not at the restart.
        gap = attempts.times[1] - attempts.times[0]
        assert gap >= 4.5, f"retried {gap:.1f} s after the first attempt (retry_delay 5 s)"
        assert f"TDC: MID {jmid} removed from the.tdc.queue: retries exhausted" in log
        terminal = re.findall(rf"TDC: MID {jmid} (?:successfully delivered|delivery failed)",
                              log)
        assert len(terminal) == 1, terminal
        assert log.count(f"Message finished MID {jmid} done") == 1
        assert len(re.findall(rf"TDC: Delivery start DCID \d+ MID {jmid}\b", log)) == 2


def test_deferred_message_waits_for_its_retry_time_after_kill9_and_immediate_restart():
    attempts = Attempts(["451 4.3.0 mailbox busy", None])
    with Sink(rcpt_reply=attempts) as next_hop:
        g = Gateway(extra_yaml=(f"smtp_routes:\n  example.com: [127.0.0.1:{next_hop.port}]\n"
                                "delivery:\n  retry: {initial: 20s, max_interval: 60s, "
                                "max_queue_time: 1h}\n"))
        g.start()
        try:
            send(g, "bob@example.com", "normal-restart")
            g.wait_log("Delayed: DCID")
            assert attempts.count() == 1
            g.kill()
            g.start()
            g.wait_log("Message done DCID", timeout=45)
            assert attempts.count() == 2, f"next hop saw {attempts.count()} attempts"
            gap = attempts.times[1] - attempts.times[0]
            assert gap >= 19.5, f"retried {gap:.1f} s after the first attempt (retry.initial 20 s)"
            assert len(next_hop.messages) == 1
        finally:
            g.cleanup()


def test_journal_copy_older_than_its_lifetime_at_restart_is_removed_at_once():
    workdir = tempfile.mkdtemp(prefix="tidegate-e2e-")
    certs = intake_certs(workdir)
    # The intake's port is reserved but nobody listens yet: the first attempt is refused.
    intake = Sink(certs=certs, require_tls=True)
    with Sink() as next_hop, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"],
                        max_queue_time="8s", retry_delay="3s")
        g.start()
        try:
            made = time.time()
            send(g, "bob@example.com", "tdc-expired")
            jmid = journal_mid(g)
            g.wait_log(f"TDC: MID {jmid} will be retried in")
            g.kill()
            intake.start()  # the intake is up now: a copy given a new lifetime would reach it
            try:
                time.sleep(max(0.0, made + 9.5 - time.time()))  # the copy is now past 8 s
                g.start()
                g.wait_log(f"TDC: MID {jmid} removed from the.tdc.queue: queued longer than 8 "
                           "seconds", timeout=5)
                g.wait_log(f"Message finished MID {jmid} done", timeout=5)
                assert intake.connections == 0, "the expired copy was tried after the restart"
                assert not intake.messages
            finally:
                intake.stop()
        finally:
            g.cleanup()


def test_deferred_journal_copy_is_retried_on_time_while_every_connection_stays_open():
    """The retry's wake used to be armed only when some delivery connection closed. Here none
    does: the.tdc.queue keeps its connections open while it holds the copy, and the original's
    next hop is a blackhole that holds its connection in the greeting (connect_timeout 30 s)."""
    with tdc_scenario(["451 4.3.0 intake busy", None], Blackhole(), "2s") as (g, attempts):
        send(g, "bob@example.com", "tdc-lone-retry")
        jmid = journal_mid(g)
        g.wait_log(f"TDC: MID {jmid} will be retried in")
        g.wait_log(f"TDC: MID {jmid} successfully delivered", timeout=10)
        assert attempts.count() == 2
        # The scenario held: no delivery connection closed between the deferral and the
        # retry (a close would have re-armed the wake and hidden the bug).
        log = g.mail_log()
        window = log[log.index(f"TDC: MID {jmid} will be retried"):
                     log.index(f"TDC: MID {jmid} successfully delivered")]
        assert not re.search(r"DCID \d+ close", window), window
