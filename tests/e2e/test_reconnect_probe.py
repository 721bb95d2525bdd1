"""After a next hop cuts its established connections, the queue reconnects with ONE probe, not its
whole concurrency window (soak finding, issue 9: a blackholed intake got up to max_connections
connections at once, each waiting out connect_timeout).

The peer is soak_peers.py's intake (TLS, switchable): healthy while a burst and a steady trickle
of mail grow the queue's window, then it cuts every connection and turns into a blackhole
(accepts TCP, never greets) while mail keeps arriving. Within one connect_timeout exactly one
connection may reach it. Then it is healthy again: the queue must reopen several connections
(the.tdc.queue: min_connections 3) and every message must end properly. Once for the.tdc.queue
(copies to the intake) and once for a normal next hop. Wall time: ~25 s.
"""
import json
import os
import re
import smtplib
import tempfile
import threading
import time

from harness import free_port
from peers import ConnectionWatch, Sink, established
from soak import Peer, copy_finished, journal_outcomes, make_bad_cert
from tdc_fixtures import intake_certs, tdc_gateway

CONNECT_TIMEOUT = 3  # seconds: delivery.connect_timeout (TCP connect and greeting)
TIMEOUTS = f"  connect_timeout: {CONNECT_TIMEOUT}s\n"
BURST = 40           # messages sent at once while healthy: the window grows on their deliveries
TRICKLE_GAP = 0.1    # seconds between messages of the steady trickle


class Senders:
    """A burst from several sessions, then a steady trickle from one, until stop()."""

    def __init__(self, port, rcpt):
        self.port, self.rcpt = port, rcpt
        self.sent = 0
        self.lock = threading.Lock()
        self.running = True
        self.errors = []
        self.threads = []

    def _send(self, s):
        with self.lock:
            self.sent += 1
            n = self.sent
        msg = (f"Subject: probe {n}\r\nMessage-ID: <probe-{n}@sender.test>\r\n\r\nbody {n}\r\n")
        s.sendmail("alice@sender.test", [self.rcpt], msg.encode())

    def _burst(self, count):
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
                for _ in range(count):
                    self._send(s)
        except Exception as e:  # noqa: BLE001 — reported by stop()
            self.errors.append(e)

    def _trickle(self):
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
                while self.running:
                    self._send(s)
                    time.sleep(TRICKLE_GAP)
        except Exception as e:  # noqa: BLE001
            self.errors.append(e)

    def start(self):
        self.threads = [threading.Thread(target=self._burst, args=(BURST // 4,), daemon=True)
                        for _ in range(4)]
        self.threads.append(threading.Thread(target=self._trickle, daemon=True))
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(timeout=30)
        assert not self.errors, self.errors
        return self.sent


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def intake_stats(intake):
    return json.loads(intake.command("stats").split(" ", 1)[1])


def run(tdc):
    """Returns (max connections while healthy, attempts to the blackhole within 0.8 ×
    connect_timeout, max connections once healthy again, sent, gateway)."""
    workdir = tempfile.mkdtemp(prefix="tidegate-probe-")
    certs = intake_certs(workdir)
    bad_cert, bad_key = make_bad_cert(os.path.join(workdir, "bad-cert"))
    port = free_port()
    intake = Peer(workdir, "intake", "intake", "--port", str(port), "--cert", certs["cert"],
                  "--key", certs["key"], "--bad-cert", bad_cert, "--bad-key", bad_key,
                  "--slow-delay", "0")
    g = None
    try:
        intake.command("healthy")
        with Sink() as other, Sink() as dsn:
            if tdc:  # originals to a plain sink, journal copies to the intake
                g = tdc_gateway(workdir, port, other.port, dsn.port, certs["ca"],
                                max_queue_time="20s", retry_delay="1s", delivery_extra=TIMEOUTS)
                rcpt = "joe@example.com"
            else:    # the intake is the next hop of normal mail (Legal: no journal copy)
                g = tdc_gateway(workdir, other.port, port, dsn.port, certs["ca"],
                                delivery_extra=TIMEOUTS)
                rcpt = "joe@legal.example.com"
            g.start()
            senders = Senders(g.port, rcpt)
            with ConnectionWatch(port) as healthy_watch:
                senders.start()
                wait_until(lambda: intake_stats(intake)["delivered"].get("healthy", 0) >= BURST,
                           20, f"{BURST} messages delivered to the intake")
                time.sleep(0.5)  # the trickle alone for a moment: connections stay reused
            # Precondition: the cut really cuts established connections.
            wait_until(lambda: established(port) >= 1, 5, "an open connection to cut")
            before = intake_stats(intake)["connections"].get("blackhole", 0)
            cut = time.time()
            intake.command("blackhole")  # cuts every connection; then never greets
            time.sleep(max(0.0, cut + 0.8 * CONNECT_TIMEOUT - time.time()))
            attempts = intake_stats(intake)["connections"].get("blackhole", 0) - before
            # the.tdc.queue keeps min_connections (3) while it holds copies; a normal queue
            # opens what its backlog needs.
            want_again = 3 if tdc else 1
            with ConnectionWatch(port) as again:
                intake.command("healthy")
                wait_until(lambda: again.max >= want_again, 15,
                           f"{want_again} connections at once after the intake came back")
            sent = senders.stop()
            return healthy_watch.max, attempts, again.max, sent, g, intake
    except BaseException:
        intake.stop()
        if g is not None:
            g.cleanup()
        raise


def test_tdc_reconnects_with_one_probe_after_its_connections_are_cut():
    healthy_max, attempts, again_max, sent, g, intake = run(tdc=True)
    try:
        print(f"tdc: healthy max {healthy_max} connections, {attempts} attempts to the "
              f"blackhole within {0.8 * CONNECT_TIMEOUT:.1f} s, {again_max} again")
        assert healthy_max >= 3, healthy_max  # the window had grown: several connections
        assert attempts == 1, f"{attempts} connections to the blackhole, expected one probe"
        assert again_max >= 3, again_max

        # Every copy ends with exactly one terminal TDC line (delivered, or failed during the
        # blackhole), then "Message finished".
        def all_finished():
            outcomes = journal_outcomes(g.mail_log())
            copies = [evs for lst in outcomes.values() for _, evs in lst]
            return len(copies) == sent and all(copy_finished(evs) for evs in copies)
        wait_until(all_finished, 30, f"{sent} copies each with one terminal TDC line")
    finally:
        intake.stop()
        g.cleanup()


def test_normal_next_hop_reconnects_with_one_probe_after_its_connections_are_cut():
    healthy_max, attempts, again_max, sent, g, intake = run(tdc=False)
    try:
        print(f"normal: healthy max {healthy_max} connections, {attempts} attempts to the "
              f"blackhole within {0.8 * CONNECT_TIMEOUT:.1f} s, {again_max} again")
        assert healthy_max >= 3, healthy_max
        assert attempts == 1, f"{attempts} connections to the blackhole, expected one probe"
        # Every message is delivered once the next hop is back, and finishes exactly once (the
        # peer may have seen one twice: a transaction cut between its acceptance and its reply
        # is sent again).
        def finished():
            return len(set(re.findall(r"Message finished MID (\d+) done", g.mail_log())))
        wait_until(lambda: finished() == sent, 30, f"{sent} messages finished")
        log = g.mail_log()
        assert len(re.findall(r"Message finished MID \d+ done", log)) == sent
        assert "Bounced: " not in log, log[-3000:]
        assert intake_stats(intake)["delivered"].get("healthy", 0) >= sent
    finally:
        intake.stop()
        g.cleanup()
