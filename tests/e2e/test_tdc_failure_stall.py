"""A connection failure to the intake fails every ready journal copy at once; processing them must
not stall the event loop that also serves inbound SMTP (issue 9; raised by the TDC soak).

Behind a blackholed intake, the.tdc.queue's probe connection waits connect_timeout for a greeting
while copies pile up as ready; when it gives up, all of them fail together, and each one costs a
spool request, log lines and tracking (about 2.6 us here). The gateway processes them 256 per
event-loop turn (QueueManager::ProcessPlansInSlices). Measured with ~10,000 copies: worst NOOP
29 ms in one handler, 18 ms sliced; at production scale (120 s of copies at 1,400 msg/s, ~170,000)
one handler would hold the loop for about 0.45 s. This test checks that every copy gets exactly one
retry line through the slices and that reception stays responsive while they are processed."""
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from harness import free_port, timing_slack, wait_port
from peers import Blackhole
from tdc_fixtures import intake_certs, tdc_gateway

# The load runs until the probe gives up; a slower (sanitizer) build gets longer for the same load.
CONNECT_TIMEOUT = round(6 * timing_slack())
PROBE_TIMEOUT = 10 * timing_slack()


class NoopProbe(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")
        self.f.readline()
        self.samples = []  # (wall time, seconds)
        self.error = None  # why the probe stopped early: an assert here would only end the thread
        self.stop = threading.Event()

    def run(self):
        try:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                self.sock.sendall(b"NOOP\r\n")
                line = self.f.readline()
                if not line.startswith(b"250"):
                    self.error = f"NOOP answered {line!r}"
                    return
                self.samples.append((time.time(), time.perf_counter() - t0))
                self.stop.wait(0.005)
        except OSError as e:  # a timeout (a stall longer than PROBE_TIMEOUT) or a reset
            self.error = f"NOOP failed after {time.perf_counter() - t0:.1f} s: {e!r}"


def test_failing_thousands_of_copies_does_not_stall_reception():
    workdir = tempfile.mkdtemp(prefix="tidegate-stall-")
    certs = intake_certs(workdir)
    sink_port = free_port()
    sink = subprocess.Popen([shutil.which("smtp-sink") or "/usr/sbin/smtp-sink", "-4", "-u",
                             "nobody", f"127.0.0.1:{sink_port}", "1024"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(sink_port)
        with Blackhole() as hole:
            g = tdc_gateway(workdir, hole.port, sink_port, sink_port, certs["ca"],
                            max_queue_time="120s", retry_delay="60s",
                            delivery_extra=f"  connect_timeout: {CONNECT_TIMEOUT}s\n").start()
            try:
                probe = NoopProbe(g.port)
                probe.start()
                start = time.time()
                # As many messages as the gateway takes before the probe connection gives up.
                src = subprocess.Popen(
                    [shutil.which("smtp-source") or "/usr/sbin/smtp-source", "-4", "-s", "20",
                     "-m", "100000", "-l", "600", "-f", "alice@sender.test",
                     "-t", "joe@example.com", f"127.0.0.1:{g.port}"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(CONNECT_TIMEOUT - 1.5)
                src.terminate()
                src.wait(10)
                failed_at = None
                deadline = time.time() + 30
                while failed_at is None and time.time() < deadline:
                    if "TDC: Connection Error" in g.mail_log():
                        failed_at = time.time()
                    time.sleep(0.05)
                assert failed_at is not None, g.mail_log()[-2000:]
                # every ready copy gets its retry line
                deadline = time.time() + 30
                copies = len(re.findall(r"enqueued for delivery to", g.mail_log()))
                while time.time() < deadline:
                    retried = len(re.findall(r"will be retried in \d+ seconds", g.mail_log()))
                    if retried >= copies:
                        break
                    time.sleep(0.2)
                done_at = time.time()
                # The probe answered after the last retry line: it ran through all of it.
                deadline = time.time() + PROBE_TIMEOUT
                while (probe.error is None and time.time() < deadline
                       and not (probe.samples and probe.samples[-1][0] > done_at)):
                    time.sleep(0.05)
                probe.stop.set()
                probe.join(PROBE_TIMEOUT + 5)
                assert probe.error is None, probe.error
                assert probe.samples[-1][0] > done_at, "the probe stopped answering"
                window = [dt for t, dt in probe.samples if start + 1 <= t]
                worst = max(window)
                print(f"{copies} copies failed at once; {retried} retry lines; NOOP worst "
                      f"{worst * 1000:.0f} ms over {len(window)} probes")
                assert copies >= 500, f"only {copies} copies queued: the load did not build up"
                assert retried == copies, "each failed copy gets exactly one retry line"
                bound = 0.25 * timing_slack()
                assert worst < bound, f"the event loop stalled {worst * 1000:.0f} ms (> {bound} s)"
            finally:
                g.cleanup()
    finally:
        sink.terminate()
        sink.wait(5)
