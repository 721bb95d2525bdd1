"""Fault isolation and connection rules of the.tdc.queue (issue 4): a blackholed intake never
slows the originals and its copies are removed on time; a slow intake gets at least 3 concurrent
connections, closed within seconds of the queue emptying; copies survive a restart."""
import re
import smtplib
import tempfile
import threading
import time

from harness import free_port
from peers import Blackhole, ConnectionWatch, Sink, established
from tdc_fixtures import intake_certs, tdc_gateway

N = 50


def send_many(g, n, prefix):
    def worker(k):
        for i in range(k, n, 5):
            msg = f"Subject: {prefix} {i}\r\nMessage-ID: <{prefix}{i}@s.test>\r\n\r\nx\r\n"
            with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
                s.sendmail("alice@sender.test", ["joe@example.com"], msg)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run_originals(intake_port, ca, workdir, max_queue_time):
    with Sink() as next_hop, Sink() as dsn:
        g = tdc_gateway(workdir, intake_port, next_hop.port, dsn.port, ca,
                        max_queue_time=max_queue_time).start()
        try:
            start = time.time()
            send_many(g, N, "iso")
            next_hop.wait_messages(N, timeout=60)
            return time.time() - start, g
        except BaseException:
            g.cleanup()
            raise


def test_blackholed_intake_does_not_slow_originals_and_copies_expire_on_time():
    certs = intake_certs(tempfile.mkdtemp(prefix="tidegate-tdc-"))
    with Sink(certs=certs) as healthy:
        healthy_time, g1 = run_originals(healthy.port, certs["ca"],
                                         tempfile.mkdtemp(prefix="tidegate-tdc-"), "4s")
        healthy.wait_messages(N, timeout=60)
        g1.cleanup()
    with Blackhole() as hole:
        hole_time, g2 = run_originals(hole.port, certs["ca"],
                                      tempfile.mkdtemp(prefix="tidegate-tdc-"), "4s")
        try:
            print(f"50 originals: healthy intake {healthy_time:.2f}s, "
                  f"blackholed intake {hole_time:.2f}s")
            assert hole_time <= healthy_time * 1.5 + 1.0
            # every copy is removed once it is 4 s old (plus a tick), and logged as such
            deadline = time.time() + 15
            while time.time() < deadline:
                log = g2.mail_log()
                if len(re.findall(r"removed from the.tdc.queue: queued longer than 4 seconds",
                                  log)) == N:
                    break
                time.sleep(0.1)
            log = g2.mail_log()
            assert len(re.findall(r"removed from the.tdc.queue: queued longer than 4 seconds",
                                  log)) == N, log[-3000:]
            assert len(re.findall(r"TDC: MID \d+ delivery failed to ", log)) == N
        finally:
            g2.cleanup()


def test_slow_intake_gets_three_connections_closed_when_empty():
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink() as dsn, Sink(certs=certs, delay=0.5) as intake:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            with ConnectionWatch(intake.port) as watch:
                send_many(g, 12, "slow")
                intake.wait_messages(12, timeout=60)
            assert watch.max >= 3, watch.max
            deadline = time.time() + 5
            while established(intake.port) > 0 and time.time() < deadline:
                time.sleep(0.05)
            assert established(intake.port) == 0, "connections open 5 s after the queue emptied"
        finally:
            g.cleanup()


def test_restart_with_copies_queued():
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    intake_port = free_port()
    with Sink() as next_hop, Sink() as dsn:
        # The intake is down: the first copy is deferred, and its single retry (4 s away, kept
        # in the spool across the restart) delivers it; the others are still waiting unattempted
        # and go at once after the restart.
        g = tdc_gateway(workdir, intake_port, next_hop.port, dsn.port, certs["ca"],
                        max_queue_time="120s", retry_delay="4s").start()
        send_many(g, 5, "restart")
        next_hop.wait_messages(5)
        g.wait_log("will be retried in")
        assert g.stop() == 0
        intake = Sink(certs=certs)
        intake.port = intake_port
        intake.controller.port = intake_port
        with intake:
            g.start()
            try:
                intake.wait_messages(5, timeout=30)
            finally:
                g.cleanup()


def test_restart_after_lifetime_removes_copies():
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink() as dsn, Blackhole() as hole:
        g = tdc_gateway(workdir, hole.port, next_hop.port, dsn.port, certs["ca"],
                        max_queue_time="3s").start()
        send_many(g, 3, "old")
        next_hop.wait_messages(3)
        g.kill()
        time.sleep(3.5)
        g.start()
        try:
            deadline = time.time() + 10
            while time.time() < deadline and g.mail_log().count(
                    "removed from the.tdc.queue: queued longer than 3 seconds") < 3:
                time.sleep(0.1)
            assert g.mail_log().count(
                "removed from the.tdc.queue: queued longer than 3 seconds") == 3
        finally:
            g.cleanup()
