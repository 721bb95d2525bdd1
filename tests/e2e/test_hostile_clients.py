"""Hostile SMTP clients over real sockets (issue 9): every smuggling variant, STARTTLS command
injection, message content before 354, a 10 MB command line, a 1 MB text line, NUL bytes,
100 000 RCPTs, 8-bit addresses without SMTPUTF8, quoted local parts kept byte-exact, routing
addresses, CR/LF injection into HELO/MAIL/addresses, and loop protection (Received: count).

Covers what test_smuggling.py, test_reception.py and test_session_limits.py do not; see
docs/RELIABILITY.md "Hostile input" for the whole list and which file covers which case.
"""
import base64
import json
import os
import re
import smtplib
import socket
import ssl
import threading
import time

import pytest

from harness import Gateway, drain_until_closed, read_reply
from rawpeer import RawNextHop


def code(f):
    return read_reply(f)[-1][:3]


def smtp_open(port, ehlo=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")
    assert read_reply(f)[0].startswith(b"220")
    if ehlo:
        s.sendall(b"EHLO attacker.test\r\n")
        read_reply(f)
    return s, f


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def body_of(entry):
    return base64.b64decode(entry["body_base64"])


@pytest.fixture
def gw():
    g = Gateway()
    g.start()
    yield g
    g.cleanup()


# -- smuggling: every variant, on one gateway, then one look at the spool ---------------------
SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r.\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r\n.\r\r\n",
           b"\r\n.\r\r", b"\r\r\n.\r\r\n", b"\n\n.\n\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n"]


def test_every_smuggling_variant_is_refused_and_nothing_else_is_queued(gw):
    for seq in SMUGGLE:
        s, f = smtp_open(gw.port)
        s.sendall(b"MAIL FROM:<honest@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        assert [code(f), code(f), code(f)] == [b"250", b"250", b"354"]
        s.sendall(b"Subject: outer\r\n\r\nhello" + seq +
                  b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
                  b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
        reply = read_reply(f)[-1]
        assert reply.startswith(b"550 5.6.0"), (seq, reply)
        s.sendall(b"NOOP\r\n")  # the session is in command state, nothing was read as commands
        assert read_reply(f)[0].startswith(b"250 2.0.0 Ok"), seq
        s.sendall(b"QUIT\r\n")
        s.close()
    # NUL in the middle of an otherwise fine message: refused too.
    s, f = smtp_open(gw.port)
    s.sendall(b"MAIL FROM:<honest@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
    assert [code(f), code(f), code(f)] == [b"250", b"250", b"354"]
    s.sendall(b"Subject: nul\r\n\r\nab\x00cd\r\n.\r\n")
    assert read_reply(f)[-1].startswith(b"550 5.6.0 Message rejected: NUL")
    s.close()
    log = gw.mail_log()
    assert "smuggled" not in log and "evil@attacker.test" not in log
    assert gw.stop() == 0
    assert gw.spool_dump() == []


# -- STARTTLS command injection (server side) -------------------------------------------------
def test_transaction_pipelined_after_starttls_is_discarded():
    g = Gateway(tls=True).start()
    try:
        s, f = smtp_open(g.port)
        s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>"
                  b"\r\nDATA\r\nSubject: injected\r\n\r\nx\r\n.\r\n")
        assert f.readline().startswith(b"220 2.0.0")
        ctx = ssl.create_default_context(cafile=g.certs["ca"])
        ctx.check_hostname = False
        t = ctx.wrap_socket(s, server_hostname="localhost")
        tf = t.makefile("rb")
        t.sendall(b"EHLO again.test\r\n")
        read_reply(tf)
        # Had the injected MAIL been kept, this would be a nested MAIL (503).
        t.sendall(b"MAIL FROM:<honest@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        assert [code(tf), code(tf), code(tf)] == [b"250", b"250", b"354"]
        t.sendall(b"Subject: honest\r\n\r\nok\r\n.\r\nQUIT\r\n")
        assert read_reply(tf)[0].startswith(b"250 2.0.0 Ok: queued as")
        t.close()
        g.wait_log("Subject 'honest'")
        assert g.stop() == 0
        dump = g.spool_dump()
        assert [m["sender"] for m in dump] == ["honest@sender.test"]
        assert "evil@attacker.test" not in g.mail_log()
    finally:
        g.cleanup()


# -- message content before the 354 -----------------------------------------------------------
def test_body_sent_before_354_is_refused_and_the_connection_closed(gw):
    s, f = smtp_open(gw.port)
    s.sendall(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
              b"Subject: eager\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@sender.test>\r\n")
    assert code(f) == b"250" and code(f) == b"250"
    assert read_reply(f)[0].startswith(b"554 5.5.0"), "content before 354 was accepted"
    assert f.readline() == b""  # closed
    gw.wait_log("improper pipelining")
    assert gw.stop() == 0
    assert gw.spool_dump() == []


# -- a 10 MB command line without CRLF; a 1 MB text line in DATA -------------------------------
def test_ten_megabyte_command_line_is_cut_and_memory_stays_bounded(gw):
    before = rss_kb(gw.proc.pid)
    s, f = smtp_open(gw.port)
    sent = 0
    chunk = b"A" * (1 << 20)
    try:
        for _ in range(10):
            s.sendall(chunk)
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        pass  # the gateway hangs up once it has seen enough: that is the point
    data = drain_until_closed(s)
    assert b"421 4.7.0" in data or data == b"", data[:200]
    assert sent < 10 << 20 or b"421" in data
    after = rss_kb(gw.proc.pid)
    print(f"\n10 MB line: {sent >> 20} MiB sent before the hang-up, RSS {before} -> {after} kB")
    assert after - before < 32 * 1024, (before, after)  # never buffered the line
    s2, f2 = smtp_open(gw.port)
    s2.sendall(b"NOOP\r\n")
    assert code(f2) == b"250"


def test_one_megabyte_text_line_in_data_is_kept_byte_exact():
    g = Gateway(max_message_size="4M").start()
    try:
        line = (b"0123456789abcdef" * 65536)  # 1 MiB, no line break
        body = b"Subject: long line\r\n\r\n" + line + b"\r\nend\r\n"
        s, f = smtp_open(g.port)
        s.sendall(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        assert [code(f), code(f), code(f)] == [b"250", b"250", b"354"]
        start = time.time()
        s.sendall(body + b".\r\n")
        assert read_reply(f)[0].startswith(b"250 2.0.0 Ok: queued as")
        elapsed = time.time() - start
        print(f"\n1 MiB line: 250 after {elapsed * 1000:.0f} ms")
        assert elapsed < 5, elapsed
        s.sendall(b"QUIT\r\n")
        s.close()
        assert g.stop() == 0
        dump = g.spool_dump()
        assert len(dump) == 1
        assert body_of(dump[0]).endswith(body), "1 MB line altered in the spool"
    finally:
        g.cleanup()


# -- NUL bytes in commands --------------------------------------------------------------------
def test_nul_bytes_in_commands(gw):
    s, f = smtp_open(gw.port)
    for cmd in (b"MAIL FROM:<a\x00b@sender.test>\r\n", b"MAIL FROM:<a@sender.test>\x00\r\n",
                b"\x00MAIL FROM:<a@sender.test>\r\n", b"EHLO a\x00b\r\n"):
        s.sendall(cmd)
        assert read_reply(f)[-1].startswith(b"500 5.5.2"), cmd
    s.sendall(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<b\x00@example.com>\r\n")
    assert code(f) == b"250"
    assert read_reply(f)[-1].startswith(b"500 5.5.2")
    s.close()


# -- 100 000 RCPTs ----------------------------------------------------------------------------
def test_hundred_thousand_rcpts_are_capped_with_452_and_the_gateway_stays_responsive(gw):
    total = 100_000
    before = rss_kb(gw.proc.pid)
    s, f = smtp_open(gw.port)
    s.sendall(b"MAIL FROM:<a@sender.test>\r\n")
    assert code(f) == b"250"
    counts = {}
    first_452 = []

    def reader():
        for _ in range(total):
            line = read_reply(f)[-1]
            counts[line[:3]] = counts.get(line[:3], 0) + 1
            if line.startswith(b"452") and not first_452:
                first_452.append(line)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    start = time.time()
    probe_latencies = []
    batch = 5000
    for i in range(0, total, batch):
        s.sendall(b"".join(b"RCPT TO:<user%d@example.com>\r\n" % n for n in range(i, i + batch)))
        # Meanwhile another client is served promptly.
        t0 = time.time()
        p, pf = smtp_open(gw.port, ehlo=False)
        p.sendall(b"NOOP\r\n")
        assert code(pf) == b"250"
        p.close()
        probe_latencies.append(time.time() - t0)
    t.join(timeout=120)
    assert not t.is_alive(), counts
    elapsed = time.time() - start
    assert counts == {b"250": 1000, b"452": total - 1000}, counts
    assert first_452[0].startswith(b"452 4.5.3"), first_452
    s.sendall(b"DATA\r\n")
    assert code(f) == b"354"
    s.sendall(b"Subject: many\r\n\r\nhi\r\n.\r\n")
    assert read_reply(f)[0].startswith(b"250 2.0.0 Ok: queued as")
    after = rss_kb(gw.proc.pid)
    s.close()
    print(f"\n100k RCPTs: {elapsed:.1f}s, probe NOOP latency max {max(probe_latencies)*1000:.0f} ms,"
          f" RSS {before} -> {after} kB")
    assert max(probe_latencies) < 2.0, probe_latencies
    assert after - before < 64 * 1024, (before, after)
    gw.wait_log("Subject 'many'")
    assert gw.mail_log().count(" To: <user") == 1000


# -- 8-bit addresses without SMTPUTF8 ---------------------------------------------------------
def test_eight_bit_addresses_need_smtputf8(gw):
    s, f = smtp_open(gw.port)
    s.sendall("MAIL FROM:<josé@sender.test>\r\n".encode())
    assert read_reply(f)[-1].startswith(b"553 5.6.7")
    s.sendall(b"MAIL FROM:<a@sender.test>\r\n")
    assert code(f) == b"250"
    s.sendall("RCPT TO:<jürgen@example.com>\r\n".encode())
    assert read_reply(f)[-1].startswith(b"553 5.6.7")
    s.sendall(b"RCPT TO:<\xff\xfe@example.com>\r\n")  # not even UTF-8
    assert read_reply(f)[-1][:1] == b"5"
    s.sendall(b"RSET\r\n")
    assert code(f) == b"250"
    # With SMTPUTF8 a valid UTF-8 address is fine, an invalid one is not.
    s.sendall("MAIL FROM:<josé@sender.test> SMTPUTF8\r\n".encode())
    assert code(f) == b"250"
    s.sendall("RCPT TO:<jürgen@example.com>\r\n".encode())
    assert code(f) == b"250"
    s.sendall(b"RCPT TO:<\xc3(@example.com>\r\n")
    assert read_reply(f)[-1].startswith(b"501")
    s.close()


# -- quoted local parts, routing addresses: byte-exact to the next hop, never relayed ----------
def test_quoted_local_parts_byte_exact_and_routing_addresses_never_relayed():
    with RawNextHop() as hop:
        g = Gateway(extra_yaml=f"smtp_routes:\n  example.com: [127.0.0.1:{hop.port}]\n"
                               "  elsewhere.test: [127.0.0.1:{0}]\n".format(hop.port)).start()
        try:
            s, f = smtp_open(g.port)
            s.sendall(b'MAIL FROM:<"x y"@sender.test>\r\n')
            assert code(f) == b"250"
            accepted = [b'"a b"@example.com', b'"a\\"b"@example.com', b'"A.B"@example.com']
            for rcpt in accepted:
                s.sendall(b"RCPT TO:<" + rcpt + b">\r\n")
                assert code(f) == b"250", rcpt
            for rcpt in (b"u%elsewhere.test@example.com", b"elsewhere.test!u@example.com",
                         b"@example.com:u@elsewhere.test", b'"u@elsewhere.test"@example.com',
                         b'"u%elsewhere.test"@example.com', b"u@elsewhere.test"):
                s.sendall(b"RCPT TO:<" + rcpt + b">\r\n")
                reply = read_reply(f)[-1]
                assert reply.startswith(b"550 5.7.1"), (rcpt, reply)
            s.sendall(b"DATA\r\n")
            assert code(f) == b"354"
            s.sendall(b"Subject: quoted\r\n\r\nhi\r\n.\r\nQUIT\r\n")
            assert read_reply(f)[0].startswith(b"250 2.0.0")
            deadline = time.time() + 30
            while time.time() < deadline and not hop.delivered:
                time.sleep(0.05)
            assert len(hop.delivered) == 1, hop.transcripts
            d = hop.delivered[0]
            assert d.mail_from == b'MAIL FROM:<"x y"@sender.test>' or \
                d.mail_from.startswith(b'MAIL FROM:<"x y"@sender.test> '), d.mail_from
            assert [r[len(b"RCPT TO:"):].split(b">")[0] + b">" for r in d.rcpts] == \
                [b"<" + r + b">" for r in accepted], d.rcpts
            assert not any(b"elsewhere" in line for t in hop.transcripts for line in t)
            log = g.mail_log()
            assert 'RID 0 To: <"a b"@example.com>' in log
        finally:
            g.cleanup()


# -- CR/LF injection into HELO, MAIL parameters, addresses -------------------------------------
MARK = b"X-Injected-By-Test"


def test_crlf_injection_never_reaches_headers_logs_or_spool():
    with RawNextHop() as hop:
        g = Gateway(extra_yaml=f"smtp_routes:\n  example.com: [127.0.0.1:{hop.port}]\n").start()
        try:
            s, f = smtp_open(g.port, ehlo=False)
            attempts = [
                b"EHLO good.test\r" + MARK + b": 1\r\n",
                b"HELO good.test\r" + MARK + b": 2\r\n",
                b"EHLO good.test\r\r\n",
                b"EHLO good.test " + MARK + b"\r\n",
            ]
            for a in attempts:
                s.sendall(a)
                assert read_reply(f)[-1][:1] == b"5", a
            s.sendall(b"EHLO good.test\r\n")
            read_reply(f)
            for a in [b"MAIL FROM:<a@sender.test> BODY=8BITMIME\r" + MARK + b"\r\n",
                      b"MAIL FROM:<a@sender.test> SIZE=10\r" + MARK + b": 3\r\n",
                      b"MAIL FROM:<a@sender.test\r" + MARK + b">\r\n",
                      b'MAIL FROM:<"a\r' + MARK + b'"@sender.test>\r\n',
                      b'MAIL FROM:<"a\\\r' + MARK + b'"@sender.test>\r\n']:
                s.sendall(a)
                assert read_reply(f)[-1][:1] == b"5", a
            s.sendall(b"MAIL FROM:<a@sender.test>\r\n")
            assert code(f) == b"250"
            for a in [b"RCPT TO:<b@example.com\r" + MARK + b">\r\n",
                      b'RCPT TO:<"b\r' + MARK + b'"@example.com>\r\n',
                      b'RCPT TO:<"b\\\r\\\n' + MARK + b'"@example.com>\r\n',
                      b"RCPT TO:<b@example.com> \r" + MARK + b"\r\n"]:
                s.sendall(a)
                for _ in range(a.count(b"\n")):  # a bare LF splits the line: a reply per piece
                    assert read_reply(f)[-1][:1] == b"5", a
            s.sendall(b"RCPT TO:<b@example.com>\r\nDATA\r\n")
            assert code(f) == b"250" and code(f) == b"354"
            s.sendall(b"Subject: clean\r\n\r\nhi\r\n.\r\nQUIT\r\n")
            assert read_reply(f)[0].startswith(b"250 2.0.0")
            deadline = time.time() + 30
            while time.time() < deadline and not hop.delivered:
                time.sleep(0.05)
            assert len(hop.delivered) == 1
            delivered = hop.delivered[0].data
            headers = delivered.split(b"\r\n\r\n", 1)[0]
            assert MARK not in headers, headers
            assert b"helo=good.test" in headers or b"good.test" in headers, headers
            g.wait_log("Message finished MID")
            assert MARK.decode() not in g.mail_log()
            assert g.stop() == 0
            err = open(os.path.join(g.workdir, "stderr.log"), "rb").read()
            assert MARK not in err
            dump = json.dumps(g.spool_dump())
            assert MARK.decode() not in dump
        finally:
            g.cleanup()


# -- loop protection --------------------------------------------------------------------------
def received_headers(n):
    return b"".join(b"Received: from hop%d.test by hop%d.test; Thu, 1 Jan 2024 00:00:00 +0000\r\n"
                    % (i, i + 1) for i in range(n))


def test_more_than_fifty_received_headers_is_a_loop_554(gw):
    s, f = smtp_open(gw.port)
    # 51 (one folded over two lines, counted once) -> 554 5.4.6; exactly 50 -> accepted.
    # "Received:" lines in the body are not hops.
    looped = received_headers(50) + b"Received: from folded.test\r\n\tby x.test; now\r\n"
    cases = ((looped, b"", b"554 5.4.6"), (received_headers(50), b"", b"250 2.0.0"),
             (received_headers(1), received_headers(60), b"250 2.0.0"))
    for hops, body, expect in cases:
        s.sendall(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        assert [code(f), code(f), code(f)] == [b"250", b"250", b"354"]
        s.sendall(hops + b"Subject: hops\r\n\r\nbody\r\n" + body + b".\r\n")
        reply = read_reply(f)[0]
        assert reply.startswith(expect), reply
    # The session goes on after the refusal, and a refusal is not a bad command.
    s.sendall(b"NOOP\r\nQUIT\r\n")
    assert code(f) == b"250"
    s.close()
    gw.wait_log("5.4.6 Too many hops")
    log = gw.mail_log()
    assert re.search(r"MID \d+ ICID \d+ rejected: 554 5\.4\.6 Too many hops: 51 Received: "
                     r"headers \(limit 50\)", log), log
    assert gw.stop() == 0
    dump = sorted(gw.spool_dump(), key=lambda m: m["mid"])
    assert len(dump) == 2  # the 50-hop message and the one with Received: lines in its body
    assert body_of(dump[0]).count(b"Received:") == 51  # its 50 plus ours
