"""Response injection against tidegate's outbound SMTP client (issue 9, hostile peers).

A raw-socket next hop (rawpeer.RawNextHop) sends replies nobody asked for: after its greeting,
after EHLO, after STARTTLS's 220 (in clear, before the handshake), answers to RCPT/DATA before they
were sent, a fake "250" right after 354, a "550" after the final 250. The outbound client must not
act on any of them: the message is deferred (retried on a fresh connection, then delivered
exactly once) or delivered correctly, never marked delivered or bounced on an injected reply, and
no injected reply text is attributed to a message in the mail log.
"""
import re
import smtplib
import time

import pytest

from harness import Gateway, mid_of, wait_finished
from rawpeer import RawNextHop


def gateway_to(port, tls=None, certs=None):
    yaml = f"smtp_routes:\n  example.com: [127.0.0.1:{port}]\n"
    yaml += "delivery:\n  retry: {initial: 1s, max_interval: 2s, max_queue_time: 72h}\n"
    if tls:
        yaml += f"  tls: {tls}\n  tls_ca_file: {certs['ca']}\n"
    return Gateway(extra_yaml=yaml)


def send(g, subject, rcpts=("bob@example.com",)):
    msg = (f"From: alice@sender.test\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject}@sender.test>\r\n\r\nbody of {subject}\r\n")
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.sendmail("alice@sender.test", list(rcpts), msg)


def wait_delivered(peer, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with peer.lock:
            if len(peer.delivered) >= n:
                return list(peer.delivered)
        time.sleep(0.05)
    raise AssertionError(f"next hop got {len(peer.delivered)} messages, expected {n}; "
                         f"transcripts: {peer.transcripts}")


def check_log(g, subjects):
    log = g.mail_log()
    # An injected reply may be quoted as the reason of a protocol failure (a Delayed: line), but
    # is never taken as a message's response; nothing bounced.
    for line in log.splitlines():
        if "injected" in line:
            assert "Delayed: DCID" in line and "('000', ['protocol: " in line, line
    assert "Bounced:" not in log, log
    for subject in subjects:
        mid = re.search(rf"MID (\d+) Subject '{subject}'", log).group(1)
        assert re.search(rf"Message done DCID \d+ MID {mid} to RID \[0\]", log), log
        assert re.search(rf"MID {mid} RID \[0\] Response '2.0.0 Ok: queued by rawpeer'", log), log
    return log


# One hostile first connection, then a well-behaved next hop: deferred, then delivered once.
@pytest.mark.parametrize("mode", ["greeting_extra", "ehlo_extra", "early_replies",
                                  "after_354_extra"])
def test_injected_reply_defers_then_delivers_once(mode):
    with RawNextHop(modes=[mode]) as peer:
        g = gateway_to(peer.port).start()
        try:
            send(g, f"inj-{mode}")
            got = wait_delivered(peer, 1)
            wait_finished(g, [mid_of(g, f"inj-{mode}")])  # no attempt can follow
            assert len(peer.delivered) == 1, [d.conn for d in peer.delivered]
            assert got[0].conn >= 1, "delivered on the connection that injected replies"
            assert got[0].data.endswith(f"body of inj-{mode}\r\n".encode())
            log = check_log(g, [f"inj-{mode}"])
            assert "Delayed: DCID" in log, log
        finally:
            g.cleanup()


def test_reply_injected_after_acceptance_is_not_given_to_the_next_message():
    # The first connection answers the body with "250" and, unasked, "550": that 550 must not
    # become the answer to the next message's MAIL on a reused connection.
    with RawNextHop(modes=["after_250_extra"]) as peer:
        g = gateway_to(peer.port).start()
        try:
            send(g, "first")
            wait_delivered(peer, 1)
            send(g, "second")
            got = wait_delivered(peer, 2)
            wait_finished(g, [mid_of(g, "first"), mid_of(g, "second")])
            assert [d.data.split(b"body of ")[1] for d in got] == [b"first\r\n", b"second\r\n"]
            assert len(peer.delivered) == 2
            check_log(g, ["first", "second"])
        finally:
            g.cleanup()


def test_starttls_response_injection(tmp_path):
    from harness import make_certs
    certs = make_certs(str(tmp_path / "peer"))
    with RawNextHop(modes=["starttls_inject"], certs=certs) as peer:
        g = gateway_to(peer.port, tls="preferred", certs=certs).start()
        try:
            send(g, "tlsinj")
            got = wait_delivered(peer, 1)
            wait_finished(g, [mid_of(g, "tlsinj")])
            assert len(peer.delivered) == 1
            assert got[0].conn >= 1
            # The injected bytes came in clear before the handshake: that connection was given up,
            # and the client never sent a command in clear after STARTTLS on it.
            first = peer.transcripts[0]
            assert [line.split(b" ")[0].strip().upper() for line in first] == \
                [b"EHLO", b"STARTTLS"], first
            check_log(g, ["tlsinj"])
        finally:
            g.cleanup()
