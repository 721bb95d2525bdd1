"""kill -9 during parallel load: every message that got a 250 is in the spool, intact (issue 2)."""
import base64
import hashlib
import random
import smtplib
import threading
import time

from harness import Gateway, strip_trace

TOTAL = 500
CLIENTS = 10


def body_for(i):
    rnd = random.Random(i)
    lines = "".join(f"line {j} {rnd.random():.12f}\r\n" for j in range(rnd.randint(1, 60)))
    return (f"From: s{i}@sender.test\r\nTo: r{i}@example.com\r\nSubject: crash {i}\r\n"
            f"Message-ID: <crash-{i}@sender.test>\r\n\r\n{lines}")


def test_sigkill_halfway_loses_nothing_acknowledged():
    g = Gateway()
    g.start()
    acked = {}
    lock = threading.Lock()
    killed = threading.Event()

    def client(worker):
        for i in range(worker, TOTAL, CLIENTS):
            if killed.is_set():
                return
            try:
                sent = body_for(i).encode()
                with smtplib.SMTP("127.0.0.1", g.port, timeout=20) as s:
                    s.sendmail(f"s{i}@sender.test", [f"r{i}@example.com"], sent)
                with lock:
                    acked[i] = hashlib.sha256(sent).hexdigest()  # of the bytes that got the 250
            except (smtplib.SMTPException, OSError):
                return  # the gateway died under us: that message was not acknowledged

    threads = [threading.Thread(target=client, args=(w,)) for w in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.time() + 120
    while len(acked) < TOTAL // 2 and time.time() < deadline:
        time.sleep(0.005)
    g.kill()
    killed.set()
    for t in threads:
        t.join(timeout=60)
    assert len(acked) >= TOTAL // 2, f"only {len(acked)} acknowledged before the deadline"

    # Restart (recovery runs), stop cleanly, then read the spool.
    g.start()
    assert g.stop() == 0
    messages = g.spool_dump()
    by_subject = {}
    for m in messages:
        by_subject[m["attrs"].get("subject", "")] = m
    missing, corrupt = [], []
    for i, digest in acked.items():
        m = by_subject.get(f"crash {i}")
        if m is None:
            missing.append(i)
            continue
        # The stored message is our trace headers followed by the client's bytes, unchanged.
        stored = strip_trace(base64.b64decode(m["body_base64"]))
        if hashlib.sha256(stored).hexdigest() != digest:
            corrupt.append(i)
    assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:10]}"
    assert not corrupt, f"{len(corrupt)} acknowledged messages corrupt: {corrupt[:10]}"
    print(f"acknowledged={len(acked)} in_spool={len(messages)} "
          f"unacknowledged_but_kept={len(messages) - len(acked)}")
    g.cleanup()
