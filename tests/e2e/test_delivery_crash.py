"""SIGKILL during a load to a slow next hop, then restart: every message that got a 250 reaches
the next hop at least once (issue 3). Prints the number of duplicates."""
import re
import smtplib
import threading
import time

from harness import Gateway
from peers import Sink

TOTAL = 200
CLIENTS = 8


def test_sigkill_under_load_to_slow_next_hop_delivers_everything_acknowledged():
    with Sink(delay=0.05) as sink:
        g = Gateway(extra_yaml=(f"smtp_routes:\n  example.com: [127.0.0.1:{sink.port}]\n"
                                "delivery:\n  retry: {initial: 1s, max_interval: 2s, "
                                "max_queue_time: 1h}\n")).start()
        acked = set()
        lock = threading.Lock()
        killed = threading.Event()

        def client(w):
            for i in range(w, TOTAL, CLIENTS):
                if killed.is_set():
                    return
                msg = (f"Subject: load {i}\r\nMessage-ID: <load-{i}@sender.test>\r\n\r\n"
                       f"body {i}\r\n")
                try:
                    with smtplib.SMTP("127.0.0.1", g.port, timeout=20) as s:
                        s.sendmail("alice@sender.test", [f"r{i}@example.com"], msg)
                    with lock:
                        acked.add(i)
                except (smtplib.SMTPException, OSError):
                    return

        threads = [threading.Thread(target=client, args=(w,)) for w in range(CLIENTS)]
        for t in threads:
            t.start()
        deadline = time.time() + 60
        while len(acked) < TOTAL // 2 and time.time() < deadline:
            time.sleep(0.01)
        g.kill()
        killed.set()
        for t in threads:
            t.join(timeout=30)
        delivered_before = len(sink.messages)
        # Without this, a gateway that acknowledged nothing would pass.
        assert len(acked) >= TOTAL // 2, f"only {len(acked)} acknowledged before the kill"
        g.start()
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                with sink.lock:
                    got = {int(re.search(rb"<load-(\d+)@", m.data).group(1))
                           for m in sink.messages}
                if acked <= got:
                    break
                time.sleep(0.1)
            missing = acked - got
            assert not missing, f"{len(missing)} acknowledged messages never delivered"
            with sink.lock:
                ids = [int(re.search(rb"<load-(\d+)@", m.data).group(1)) for m in sink.messages]
            duplicates = len(ids) - len(set(ids))
            print(f"acknowledged={len(acked)} delivered_before_kill={delivered_before} "
                  f"delivered_total={len(ids)} duplicates={duplicates}")
        finally:
            g.cleanup()
