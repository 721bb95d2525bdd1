"""Session limits (issue 2): idle and total timeouts (421 4.4.2), connections per listener,
pre-greeting talk, over-long command lines, NUL bytes, bad sequences."""
import re
import socket
import time

from harness import Gateway, drain_until_closed


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s, s.makefile("rb")


def test_idle_timeout_gives_421():
    g = Gateway(listener_extra="    idle_timeout: 1s\n").start()
    try:
        s, f = connect(g.port)
        assert f.readline().startswith(b"220")
        start = time.time()
        line = f.readline()
        assert line.startswith(b"421 4.4.2"), line
        assert 0.8 <= time.time() - start < 5
        assert f.readline() == b""  # closed
    finally:
        g.cleanup()


def test_total_session_timeout_gives_421_even_when_busy():
    g = Gateway(listener_extra="    idle_timeout: 10s\n    session_timeout: 2s\n").start()
    try:
        s, f = connect(g.port)
        assert f.readline().startswith(b"220")
        start = time.time()
        while True:
            s.sendall(b"NOOP\r\n")
            line = f.readline()
            if not line.startswith(b"250"):
                break
            assert time.time() - start < 6
            time.sleep(0.2)
        assert line.startswith(b"421 4.4.2"), line
    finally:
        g.cleanup()


def test_connection_limit_per_listener():
    g = Gateway(listener_extra="    max_connections: 2\n")
    g.yaml = g.yaml.replace("    max_connections: 1000\n", "")
    open(g.config_path, "w").write(g.yaml)
    g.start()
    time.sleep(0.5)  # let the harness's readiness probe connection finish on the server side
    try:
        a, fa = connect(g.port)
        b, fb = connect(g.port)
        assert fa.readline().startswith(b"220") and fb.readline().startswith(b"220")
        c, fc = connect(g.port)
        assert fc.readline().startswith(b"421 4.7.0")
        a.sendall(b"QUIT\r\n")
        assert fa.readline().startswith(b"221")
        a.close()
        time.sleep(0.3)
        d, fd = connect(g.port)
        assert fd.readline().startswith(b"220")
    finally:
        g.cleanup()


def test_pre_greeting_talk_is_refused():
    g = Gateway(listener_extra="    greeting_delay: 500ms\n").start()
    try:
        s, f = connect(g.port)
        s.sendall(b"EHLO eager.test\r\n")
        line = f.readline()
        assert line.startswith(b"554 5.5.1"), line
        g.wait_log("pre-greeting traffic")
        # A patient client is served normally.
        s2, f2 = connect(g.port)
        assert f2.readline().startswith(b"220")
    finally:
        g.cleanup()


def test_greeting_delay_refuses_every_early_talker_at_once_and_serves_the_polite():
    """With greeting_delay every client that talks before the 220 is refused (554 5.5.1, closed)
    the moment it talks, never greeted by chance; the delay runs on the event loop, so polite
    clients waiting at the same time are greeted after it and deliver."""
    delay = 3.0
    g = Gateway(listener_extra="    greeting_delay: 3s\n").start()
    try:
        polite = [connect(g.port) for _ in range(3)]
        started = time.time()
        for i in range(10):
            s, f = connect(g.port)
            t0 = time.time()
            s.sendall(b"EHLO eager%d.test\r\n" % i)
            line = f.readline()
            assert line.startswith(b"554 5.5.1"), (i, line)
            # Refused as soon as it talked, not when the delay ran out.
            assert time.time() - t0 < delay / 2, (i, time.time() - t0)
            assert f.readline() == b""  # closed
            s.close()
        # A client that talks late in the delay is refused too.
        s, f = connect(g.port)
        time.sleep(delay * 0.7)
        s.sendall(b"HELO late.test\r\n")
        assert f.readline().startswith(b"554 5.5.1")
        s.close()
        for s, f in polite:
            assert f.readline().startswith(b"220"), "polite client not greeted"
            assert time.time() - started >= delay * 0.9  # only after the delay
        s, f = polite[0]
        for cmd, want in ((b"EHLO polite.test", b"250"), (b"MAIL FROM:<a@sender.test>", b"250"),
                          (b"RCPT TO:<bob@example.com>", b"250"), (b"DATA", b"354")):
            s.sendall(cmd + b"\r\n")
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    break
            assert line.startswith(want), (cmd, line)
        s.sendall(b"Subject: polite\r\n\r\nhello\r\n.\r\n")
        assert f.readline().startswith(b"250 2.0.0"), "polite client could not deliver"
        log = g.mail_log()
        assert log.count("pre-greeting traffic, refused") == 11, log
        assert re.search(r"ICID \d+ pre-greeting traffic, refused", log)
    finally:
        g.cleanup()


def test_overlong_lines_nul_and_bad_sequences():
    g = Gateway().start()
    try:
        s, f = connect(g.port)
        assert f.readline().startswith(b"220")
        s.sendall(b"NOOP " + b"x" * 600 + b"\r\n")
        assert f.readline().startswith(b"500 5.5.2")
        s.sendall(b"NO\x00OP\r\n")
        assert f.readline().startswith(b"500 5.5.2")
        s.sendall(b"RCPT TO:<a@example.com>\r\n")
        assert f.readline().startswith(b"503")
        s.sendall(b"EHLO ok.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        s.sendall(b"MAIL FROM:<a@sender.test> FOO=BAR\r\n")
        assert f.readline().startswith(b"555")
        s.sendall(b"MAIL FROM:<a@sender.test>\r\n")
        assert f.readline().startswith(b"250")
        # a 10 MB command line without CRLF: the connection is closed, the server survives
        try:
            s.sendall(b"A" * (2 << 20))
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may hang up while we are still sending: that is the point
        data = drain_until_closed(s, timeout=10)
        assert b"421" in data or data == b""
        s2, f2 = connect(g.port)
        assert f2.readline().startswith(b"220")
    finally:
        g.cleanup()
