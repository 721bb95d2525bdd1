"""Reception: swaks and smtplib, with and without STARTTLS; relay denial; size limits (issue 2)."""
import base64
import smtplib
import ssl
import subprocess

import pytest

from harness import Gateway

MSG = ("From: alice@sender.test\r\nTo: bob@example.com\r\nSubject: hello {n}\r\n"
       "Message-ID: <m{n}@sender.test>\r\n\r\nbody line one\r\n.leading dot\r\n")


@pytest.fixture
def gw():
    g = Gateway(tls=True)
    g.start()
    yield g
    g.cleanup()


def swaks(gw, *extra, to="bob@example.com"):
    return subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(gw.port), "--from", "alice@sender.test",
         "--to", to, "--helo", "client.test", "--timeout", "20", *extra],
        capture_output=True, text=True, timeout=60)


def test_swaks_plain_and_starttls(gw):
    r = swaks(gw, "--header", "Subject: plain swaks")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    r = swaks(gw, "-tls", "--header", "Subject: tls swaks")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS started" in r.stdout
    assert "250 2.0.0 Ok: queued as" in r.stdout
    gw.wait_log("Subject 'tls swaks'")
    log = gw.mail_log()
    assert "TLS success protocol TLSv1." in log
    assert "New SMTP ICID" in log and "interface IncomingMail (127.0.0.1) address 127.0.0.1" in log
    assert "ready" in log and "bytes from <alice@sender.test>" in log


def test_smtplib_plain_and_starttls(gw):
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
        code, _ = s.ehlo("client.test")
        assert code == 250
        assert s.has_extn("pipelining") and s.has_extn("starttls") and s.has_extn("size")
        assert s.has_extn("8bitmime") and s.has_extn("enhancedstatuscodes")
        s.sendmail("alice@sender.test", ["bob@example.com"], MSG.format(n=1))
    ctx = ssl.create_default_context(cafile=gw.certs["ca"])
    ctx.check_hostname = False
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
        s.starttls(context=ctx)
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        code, _ = s.ehlo("client.test")
        assert code == 250 and not s.has_extn("starttls")
        s.sendmail("alice@sender.test", ["bob@example.com", "carol@sub.example.org"],
                   MSG.format(n=2))
    gw.wait_log("Message-ID '<m2@sender.test>'")
    log = gw.mail_log()
    assert "RID 0 To: <bob@example.com>" in log
    assert "RID 1 To: <carol@sub.example.org>" in log


def test_foreign_domain_is_relay_denied(gw):
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
        s.ehlo("client.test")
        s.mail("alice@sender.test")
        code, msg = s.rcpt("victim@elsewhere.test")
        assert code == 550 and msg.startswith(b"5.7.1") and b"Relaying denied" in msg
        # ".example.org" accepts subdomains only, not example.org itself
        code, _ = s.rcpt("x@example.org")
        assert code == 550
        # source routes, % and ! never route
        for rcpt in ("<@example.com:u@elsewhere.test>", "<u%elsewhere.test@example.com>",
                     "<elsewhere.test!u@example.com>"):
            code, msg = s.docmd("RCPT TO:" + rcpt)
            assert code == 550, (rcpt, code, msg)
        code, _ = s.rcpt("ok@EXAMPLE.com")
        assert code == 250


def test_oversized_message_552_then_next_transaction_works():
    g = Gateway(max_message_size="20k")
    g.start()
    try:
        with smtplib.SMTP("127.0.0.1", g.port, timeout=20) as s:
            s.ehlo("client.test")
            # SIZE= declared too big: refused at MAIL
            code, msg = s.docmd("MAIL FROM:<a@sender.test> SIZE=999999")
            assert code == 552 and msg.startswith(b"5.3.4")
            # actual size too big, undeclared (smtplib.sendmail would declare SIZE=)
            big = "Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 40
            assert s.mail("a@sender.test")[0] == 250
            assert s.rcpt("bob@example.com")[0] == 250
            code, msg = s.data(big)
            assert code == 552 and msg.startswith(b"5.3.4"), (code, msg)
            # the session stays usable
            s.sendmail("a@sender.test", ["bob@example.com"], MSG.format(n=3))
        g.wait_log("Message-ID '<m3@sender.test>'")
    finally:
        g.cleanup()


def test_pipelined_transactions_in_one_write(gw):
    import socket
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        s.sendall(b"EHLO c.test\r\n")
        while True:
            line = f.readline()
            if line.startswith(b"250 "):
                break
        s.sendall(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<x@example.com>\r\n"
                  b"RCPT TO:<y@elsewhere.test>\r\nDATA\r\n")
        replies = [f.readline() for _ in range(4)]
        assert [r[:3] for r in replies] == [b"250", b"250", b"550", b"354"], replies
        s.sendall(b"Subject: pipelined\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        assert f.readline().startswith(b"250 2.0.0 Ok: queued as")
        assert f.readline().startswith(b"221")


def test_transfer_needs_are_recorded_in_the_spool_at_reception():
    """Issue 15: whether a message needs BODY=8BITMIME / SMTPUTF8, and what the client declared,
    is in its spool attrs from the moment of its 250 (delivery no longer has to scan the body)."""
    g = Gateway().start()
    try:
        with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
            s.ehlo("client.test")
            s.sendmail("alice@sender.test", ["bob@example.com"], MSG.format(n="plain").encode())
            eight = ("From: alice@sender.test\r\nTo: bob@example.com\r\nSubject: hello eight\r\n"
                     "\r\ncaf\u00e9\r\n").encode()
            s.sendmail("alice@sender.test", ["bob@example.com"], eight,
                       mail_options=["BODY=8BITMIME"])
            s.sendmail("alice@sender.test", ["j\u00fcrgen@example.com"],
                       MSG.format(n="utf8").encode(), mail_options=["SMTPUTF8"])
        assert g.stop() == 0
        attrs = {m["attrs"]["subject"]: m["attrs"] for m in g.spool_dump()}
        picked = {subject: {k: v for k, v in a.items()
                            if k in ("body_8bit", "smtputf8", "declared_8bitmime",
                                     "declared_smtputf8")}
                  for subject, a in attrs.items()}
        assert picked == {
            "hello plain": {"body_8bit": "no", "smtputf8": "no"},
            "hello eight": {"body_8bit": "yes", "smtputf8": "no", "declared_8bitmime": "yes"},
            "hello utf8": {"body_8bit": "no", "smtputf8": "yes", "declared_smtputf8": "yes"},
        }, picked
    finally:
        g.cleanup()
