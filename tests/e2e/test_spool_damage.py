"""Spool recovery after a clean stop vs a crash (issue 14): only a crash leaves unfinished
writes; after a clean stop (SIGTERM) a damaged tail is damage — its bytes are kept in
spool/corrupt/ and the mail log says so at Critical level, naming the segment and the message
it held. A kill -9 in between recovers as after a crash."""
import glob
import os
import re
import smtplib

from harness import Gateway


def send(g, subject):
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.sendmail("alice@sender.test", ["bob@example.com"],
                   f"Subject: {subject}\r\n\r\nbody of {subject}\r\n".encode())


def segments(g):
    return sorted(glob.glob(os.path.join(g.data_dir, "spool", "seg-*.log")))


def test_damaged_tail_after_clean_stop_is_kept_and_logged_as_damage():
    g = Gateway().start()  # mail stays queued: the next hop is a dead port
    try:
        g.wait_log("writes discarded; a new spool")
        send(g, "first")
        send(g, "second")
        assert g.stop() == 0
        assert os.path.exists(os.path.join(g.data_dir, "spool", "clean-shutdown"))
        seg = max(segments(g), key=os.path.getsize)  # the one holding both messages
        with open(seg, "r+b") as f:
            data = f.read()
            f.seek(len(data) - 5)
            f.write(bytes([data[-5] ^ 0x01]))  # bit rot in the last record
        g.start()
        g.wait_log("Spool recovery:")
        log = g.mail_log()
        name = os.path.basename(seg)
        assert re.search(r"Critical: Spool damage: segment " + re.escape(name) +
                         r": \d+ damaged bytes at offset \d+ moved to corrupt/", log), log
        assert re.search(r"Critical: Spool damage: segment " + re.escape(name) +
                         r": held 2 live messages at the clean shutdown, 1 recovered", log), log
        assert "1 messages queued, 1 corrupt regions moved aside, 0 bytes of unfinished " \
               "writes discarded; the last run stopped cleanly" in log, log
        kept = glob.glob(os.path.join(g.data_dir, "spool", "corrupt", "*.bad"))
        assert len(kept) == 1
        saved = open(kept[0], "rb").read()
        assert b"Subject: second" in saved
        damaged = bytearray(data)
        damaged[-5] ^= 0x01
        assert bytes(damaged).endswith(saved), "the damaged record, byte for byte"
        assert os.path.getsize(seg) == len(data) - len(saved)  # cut after it was kept
        # A crash leaves no marker: the next recovery says so, and reports no damage.
        g.kill()
        assert not os.path.exists(os.path.join(g.data_dir, "spool", "clean-shutdown"))
        g.start()
        g.wait_log("did not stop cleanly")
        assert g.mail_log().count("Spool damage:") == 2
    finally:
        g.cleanup()
