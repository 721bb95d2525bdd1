"""Disk full (issue 9, crash and disk faults): the data_dir is a 4 MB tmpfs holding the spool, the
mail log and the tracking database. Filled with mail while the next hop is down, the gateway
answers `452 4.3.1` (the spool keeps min_free_space for delivery records); a filler then takes the
last byte, and the gateway still runs, stops cleanly, restarts at 0 bytes free, and `tidegate
spool-dump` shows every message that got a 250, byte-exact. The next hop comes up while the disk is
100% full (mail goes out, its results wait), the filler goes: results are recorded, the spool
drains, reception recovers (250 again), everything acknowledged is delivered and nothing delivered
stays live in the spool.

Needs root to mount the tmpfs; skipped (with the reason) where mount is not permitted."""
import base64
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time

import pytest

from harness import Gateway
from peers import Sink

BODY_SIZE = 60 * 1024
FILLER = 1024 * 1024


def message(n):
    line = f"disk full filler line of message {n:05d} ".ljust(76, "x") + "\r\n"
    body = line * (BODY_SIZE // len(line))
    return (f"From: alice@sender.test\r\nSubject: df {n}\r\n"
            f"Message-ID: <df-{n}@sender.test>\r\n\r\n{body}")


def send(port, n):
    """(code, text) of the reply to DATA for message n (250 or the refusal)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("alice@sender.test", [f"r{n}@example.com"], message(n))
        return 250, ""
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error.decode()
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode()


def fill_until_452(g, first, acked, limit=400):
    """Sends messages from number `first` until one is refused; returns (next number, reply)."""
    n = first
    while n < first + limit:
        code, text = send(g.port, n)
        n += 1
        if code == 250:
            acked.add(n - 1)
            continue
        return n, (code, text)
    raise AssertionError(f"{limit} messages accepted on a 4 MB disk")


def df(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def delivered_ids(sink):
    with sink.lock:
        return [int(re.search(rb"<df-(\d+)@", m.data).group(1)) for m in sink.messages]


def whole_mail_log(g):
    """The mail log, rotated files first (mail.@... sorts before mail.current)."""
    d = os.path.join(g.data_dir, "mail_logs")
    return "".join(open(os.path.join(d, f), encoding="utf-8", errors="replace").read()
                   for f in sorted(os.listdir(d)))


def check_spool(g, acked):
    """The spool (gateway stopped) holds every acknowledged message, byte-exact."""
    dump = g.spool_dump()
    by_subject = {m["attrs"].get("subject", ""): m for m in dump}
    for n in acked:
        m = by_subject.get(f"df {n}")
        assert m is not None, f"acknowledged message df {n} missing from the spool"
        assert base64.b64decode(m["body_base64"]).endswith(message(n).encode())
    return len(dump)


@pytest.fixture
def tmpfs_dir():
    workdir = tempfile.mkdtemp(prefix="tidegate-df-")
    data = os.path.join(workdir, "data")
    os.makedirs(data)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", data],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root / CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield workdir, data
    finally:
        subprocess.run(["umount", "-l", data], capture_output=True, timeout=30)
        if os.environ.get("KEEP_TEST_DIRS") != "1":
            shutil.rmtree(workdir, ignore_errors=True)


def fill_to_the_last_byte(path):
    """Writes `path` until the disk refuses (ENOSPC): nothing at all is left free."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        try:
            while True:
                written += f.write(chunk)
        except OSError:
            pass
    return written


def test_full_disk_answers_452_keeps_the_spool_and_recovers(tmpfs_dir):
    started = time.time()
    workdir, data = tmpfs_dir
    next_hop = Sink()  # down at first: mail stays queued and fills the disk
    g = Gateway(workdir=workdir, extra_yaml=(
        f"smtp_routes:\n  example.com: [127.0.0.1:{next_hop.port}]\n"
        "delivery:\n  retry: {initial: 1s, max_interval: 1s, max_queue_time: 1h}\n"
        "spool: {segment_size: 256k, min_free_space: 256k}\n"
        "log: {mail_log: mail_logs/mail.current, max_size: 256k, keep: 2}\n"))
    try:
        with open(os.path.join(data, "filler"), "wb") as f:
            f.write(b"\0" * FILLER)
        g.start()
        acked = set()

        # 1. The next hop is down: mail fills the disk until the spool's reserve is reached.
        n, refusal = fill_until_452(g, 0, acked)
        print(f"\n1. {len(acked)} acknowledged, then {refusal} with {df(data)} bytes free")
        assert refusal[0] == 452 and refusal[1].startswith("4.3.1"), refusal
        assert refusal[1] == "4.3.1 Insufficient system storage", refusal

        # 2. Something else takes the rest: the disk is 100% full, the mail log and the tracking
        # database cannot write either. Still 452, and the gateway keeps running.
        topped = fill_to_the_last_byte(os.path.join(data, "filler2"))
        assert df(data) == 0
        for _ in range(5):
            code, text = send(g.port, n)
            n += 1
            assert code == 452 and text.startswith("4.3.1"), (code, text)
        assert g.proc.poll() is None, "the gateway died on a full disk"
        print(f"2. disk topped up with {topped} bytes: 0 free, still answering 452")

        # 3. Stop, inspect, restart: all on the 100% full disk.
        assert g.stop() == 0
        in_spool = check_spool(g, acked)
        try:
            g.start()
        except RuntimeError:
            print(open(os.path.join(workdir, "stderr.log")).read()[-3000:])
            raise
        code, _ = send(g.port, n)
        n += 1
        assert code == 452
        print(f"3. spool-dump on the full disk: {in_spool} messages, all acknowledged ones intact;"
              " restarted")

        # 4. The next hop comes up while not one byte is free: mail goes out, but its results
        # cannot be recorded yet.
        next_hop.start()
        deadline = time.time() + 30
        while time.time() < deadline and not acked <= set(delivered_ids(next_hop)):
            time.sleep(0.2)
        sent_while_full = set(delivered_ids(next_hop))
        assert df(data) == 0
        assert acked <= sent_while_full, \
            f"{len(acked - sent_while_full)} acknowledged not delivered while the disk was full"
        assert g.proc.poll() is None
        print(f"4. {len(sent_while_full)} delivered while the disk was 100% full")

        # 5. Space returns: the results land, the spool drains, reception recovers.
        os.remove(os.path.join(data, "filler2"))
        deadline = time.time() + 30
        while True:
            code, text = send(g.port, n)
            n += 1
            if code == 250:
                acked.add(n - 1)
                break
            assert time.time() < deadline, f"still {code} {text} after space returned"
            time.sleep(0.5)
        for _ in range(5):
            code, text = send(g.port, n)
            assert code == 250, f"reception did not recover: {code} {text}"
            acked.add(n)
            n += 1
        deadline = time.time() + 30
        while time.time() < deadline and not acked <= set(delivered_ids(next_hop)):
            time.sleep(0.2)
        missing = acked - set(delivered_ids(next_hop))
        assert not missing, f"{len(missing)} acknowledged not delivered: {sorted(missing)[:10]}"
        ids = delivered_ids(next_hop)
        assert g.proc.poll() is None
        # A results commit that failed is retried every second; a message is finished (logged)
        # once its results are recorded.
        log = whole_mail_log(g)
        # Each message's MID from our Received: header at the next hop (`... id <MID>`): the
        # log's Subject line of a message received as the disk filled may have been dropped.
        with next_hop.lock:
            mids = {int(re.search(rb"<df-(\d+)@", m.data).group(1)):
                    re.search(rb"by gw\.test\.example \(tidegate\) with \S+ id (\d+)", m.data).group(1).decode()
                    for m in next_hop.messages}
        deadline = time.time() + 30
        while not all(f"Message finished MID {mids[n]} done" in log for n in acked):
            assert time.time() < deadline, "not every acknowledged message finished:\n" + log
            time.sleep(0.1)
            log = whole_mail_log(g)
        retried = set(re.findall(r"MID (\d+) delivery results recorded", log))
        assert {mids[n] for n in sent_while_full} <= retried, \
            "results of mail delivered while the disk was full were not retried and recorded"
        assert g.stop() == 0
        # Every delivery was recorded: nothing delivered is left live in the spool (it would be
        # sent again after each restart and hold the disk).
        left = g.spool_dump()
        assert not left, f"{len(left)} delivered messages still live in the spool"
        assert "not stored, answered 452" in whole_mail_log(g)
        print(f"5. acknowledged={len(acked)} delivered={len(ids)} "
              f"duplicates={len(ids) - len(set(ids))} results_retried={len(retried)} "
              f"wall={time.time() - started:.1f}s")
    finally:
        if next_hop.controller._thread is not None:
            next_hop.stop()
        g.cleanup()
