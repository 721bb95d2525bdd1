"""SMTP smuggling and STARTTLS injection never produce a second message (issue 2)."""
import socket
import ssl
import time

import pytest

from harness import Gateway, read_reply

SEQUENCES = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\r"]


def smtp_open(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")
    assert read_reply(f)[0].startswith(b"220")
    s.sendall(b"EHLO attacker.test\r\n")
    read_reply(f)
    return s, f


@pytest.mark.parametrize("seq", SEQUENCES, ids=[repr(s) for s in SEQUENCES])
def test_smuggling_sequence_does_not_create_second_message(seq):
    g = Gateway()
    g.start()
    try:
        s, f = smtp_open(g.port)
        s.sendall(b"MAIL FROM:<honest@sender.test>\r\n")
        assert read_reply(f)[0].startswith(b"250")
        s.sendall(b"RCPT TO:<bob@example.com>\r\n")
        assert read_reply(f)[0].startswith(b"250")
        s.sendall(b"DATA\r\n")
        assert read_reply(f)[0].startswith(b"354")
        s.sendall(b"Subject: first\r\n\r\nhello" + seq +
                  b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
                  b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
        reply = read_reply(f)[-1]
        # The data is one message containing bare line endings: it must be refused as a whole.
        assert reply.startswith(b"550 5.6.0"), reply
        # Nothing after it is read as commands: the next reply answers our NOOP.
        s.sendall(b"NOOP\r\n")
        assert read_reply(f)[0].startswith(b"250 2.0.0")
        # A proper message on the same session is still accepted (the test can see a message).
        s.sendall(b"MAIL FROM:<honest@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        assert [r[0][:3] for r in (read_reply(f), read_reply(f), read_reply(f))] == \
            [b"250", b"250", b"354"]
        s.sendall(b"Subject: second honest\r\n\r\nok\r\n.\r\nQUIT\r\n")
        assert read_reply(f)[0].startswith(b"250 2.0.0 Ok: queued as")
        s.close()
        g.wait_log("Subject 'second honest'")
        assert g.stop() == 0
        messages = g.spool_dump()
        assert len(messages) == 1, messages
        assert messages[0]["sender"] == "honest@sender.test"
        assert [r["address"] for r in messages[0]["recipients"]] == ["bob@example.com"]
        assert "smuggled" not in g.mail_log().lower().replace("smuggling", "")
    finally:
        g.cleanup()


def test_starttls_injection_noop_never_answered_inside_tls():
    g = Gateway(tls=True)
    g.start()
    try:
        s, f = smtp_open(g.port)
        s.sendall(b"STARTTLS\r\nNOOP\r\n")  # one write: the NOOP is injected plaintext
        line = f.readline()
        assert line.startswith(b"220 2.0.0"), line
        # Nothing else may come in clear text.
        s.settimeout(0.5)
        try:
            extra = s.recv(100)
        except socket.timeout:
            extra = b""
        assert extra == b"", extra
        s.settimeout(20)
        ctx = ssl.create_default_context(cafile=g.certs["ca"])
        ctx.check_hostname = False
        t = ctx.wrap_socket(s, server_hostname="localhost")
        # Inside TLS the server must not answer the injected NOOP: it waits for us.
        t.settimeout(1.0)
        try:
            data = t.recv(100)
        except (socket.timeout, TimeoutError):
            data = b""
        assert data == b"", data
        t.settimeout(20)
        # Session state was reset: MAIL before EHLO is a bad sequence.
        t.sendall(b"MAIL FROM:<a@sender.test>\r\n")
        assert t.recv(200).startswith(b"503")
        t.sendall(b"EHLO again.test\r\n")
        reply = t.recv(2000)
        assert reply.startswith(b"250") and b"STARTTLS" not in reply
        t.sendall(b"QUIT\r\n")
        t.recv(100)
        t.close()
    finally:
        g.cleanup()
