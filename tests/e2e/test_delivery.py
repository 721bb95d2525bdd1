"""Delivery engine (issue 3): routes and MX, verified TLS, retries, bounces and DSNs, NXDOMAIN,
and fault isolation between destinations. Real peers: aiosmtpd sinks, dnsmasq on loopback."""
import os
import re
import smtplib
import subprocess
import time

import pytest

from harness import Gateway, make_certs, mid_of, strip_trace, wait_finished
from peers import Blackhole, Dnsmasq, Sink

MSG = ("From: alice@sender.test\r\nTo: {to}\r\nSubject: {subject}\r\n"
       "Message-ID: <{subject}@sender.test>\r\n\r\nHello,\r\n.dot line\r\n8bit: caf\xc3\xa9\r\n")


def gw_with(routes, extra="", **kw):
    yaml = "smtp_routes:\n" + "".join(f"  {d}: [127.0.0.1:{p}]\n" for d, p in routes.items())
    yaml += "delivery:\n  retry: {initial: 1s, max_interval: 2s, max_queue_time: 72h}\n" \
        if "delivery:" not in extra else ""
    return Gateway(extra_yaml=yaml + extra, **kw)


def send(gw, to, subject, sender="alice@sender.test", body=None):
    data = body if body is not None else MSG.format(to=to, subject=subject)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
        s.sendmail(sender, to if isinstance(to, list) else [to], data)


def dsns(log):
    """[(DSN MID, bounced MID)] in the order generated."""
    return re.findall(r"MID (\d+) was generated for bounce of MID (\d+)", log)


def test_route_delivery_is_byte_exact():
    with Sink() as sink:
        g = gw_with({"example.com": sink.port}).start()
        try:
            body = MSG.format(to="bob@example.com", subject="exact")
            data_file = os.path.join(g.workdir, "message.eml")
            with open(data_file, "wb") as f:
                # swaks ends the data with CRLF "." CRLF itself
                f.write(body.encode("latin-1")[:-2])
            r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(g.port),
                                "--from", "alice@sender.test", "--to", "bob@example.com",
                                "--data", data_file], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            m = sink.wait_messages(1)[0]
            assert m.rcpt_tos == ["bob@example.com"] and m.mail_from == "alice@sender.test"
            assert strip_trace(m.data) == body.encode("latin-1")
            g.wait_log("Message finished MID")
            log = g.mail_log()
            assert re.search(r"New SMTP DCID \d+ interface 127.0.0.1 address 127.0.0.1 port "
                             + str(sink.port), log)
            assert re.search(r"Delivery start DCID \d+ MID \d+ to RID \[0\]", log)
            assert re.search(r"Message done DCID \d+ MID \d+ to RID \[0\]", log)
            assert re.search(r"MID \d+ RID \[0\] Response '2.0.0 Ok: queued'", log)
        finally:
            g.cleanup()


def test_received_names_utf8smtp_for_an_smtputf8_transaction():
    """RFC 6531 §4.3: a transaction whose MAIL carried SMTPUTF8 is received "with UTF8SMTP"
    (UTF8SMTPS over TLS), not ESMTP/ESMTPS; one without it keeps ESMTP."""
    with Sink() as sink:
        g = gw_with({"example.com": sink.port}, tls=True).start()
        try:
            with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
                s.ehlo("client.test")
                s.sendmail("alice@sender.test", ["bob@example.com"],
                           MSG.format(to="bob@example.com", subject="u8").encode(),
                           mail_options=["SMTPUTF8"])
                s.sendmail("alice@sender.test", ["bob@example.com"],
                           MSG.format(to="bob@example.com", subject="plain").encode())
            with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
                s.starttls()
                s.sendmail("alice@sender.test", ["bob@example.com"],
                           MSG.format(to="bob@example.com", subject="u8tls").encode(),
                           mail_options=["SMTPUTF8"])
            got = {}
            for m in sink.wait_messages(3):
                subject = re.search(rb"Subject: (\w+)", m.data).group(1).decode()
                got[subject] = re.search(rb"\) with (\w+) id ", m.data.split(b"\r\n\tfor")[0])
            assert {k: v and v.group(1) for k, v in got.items()} == \
                {"u8": b"UTF8SMTP", "plain": b"ESMTP", "u8tls": b"UTF8SMTPS"}, got
        finally:
            g.cleanup()


def test_mx_via_dnsmasq_and_required_verified_tls(tmp_path):
    certs = make_certs(str(tmp_path / "sinkcerts"), names=("mx1.mail.test",))
    with Sink(certs=certs, require_tls=True) as sink, \
            Dnsmasq(["--mx-host=example.com,mx1.mail.test,10",
                     "--host-record=mx1.mail.test,127.0.0.1"]) as dns:
        g = Gateway(extra_yaml=(f"dns: {{servers: [127.0.0.1:{dns.port}]}}\n"
                                "delivery:\n  tls: required\n"
                                f"  tls_ca_file: {certs['ca']}\n  port: {sink.port}\n"), hold=False).start()
        try:
            send(g, "carol@example.com", "viamx")
            m = sink.wait_messages(1)[0]
            assert m.rcpt_tos == ["carol@example.com"]
            assert m.tls_version in ("TLSv1.2", "TLSv1.3")
            g.wait_log("Message finished MID")
            assert re.search(r"DCID \d+ TLS success protocol TLSv1\.[23] cipher", g.mail_log())
        finally:
            g.cleanup()


def test_451_then_250_is_delivered_on_retry():
    state = {"n": 0}

    def rcpt(address):
        state["n"] += 1
        return "451 4.3.0 Try again later" if state["n"] == 1 else None

    with Sink(rcpt_reply=rcpt) as sink:
        g = gw_with({"example.com": sink.port}).start()
        try:
            send(g, "bob@example.com", "retry")
            m = sink.wait_messages(1, timeout=30)[0]
            assert m.rcpt_tos == ["bob@example.com"]
            log = g.mail_log()
            assert re.search(r"Delayed: DCID \d+ MID \d+ to RID 0 - 4\.3\.0 - .* \('451', \[", log)
        finally:
            g.cleanup()


def test_550_to_one_of_two_gives_exactly_one_dsn():
    def rcpt(address):
        return "550 5.1.1 No such user" if address.startswith("nobody") else None

    with Sink(rcpt_reply=rcpt) as sink, Sink() as dsn_sink:
        g = gw_with({"example.com": sink.port, "sender.test": dsn_sink.port}).start()
        try:
            send(g, ["bob@example.com", "nobody@example.com"], "partial")
            m = sink.wait_messages(1)[0]
            assert m.rcpt_tos == ["bob@example.com"]
            dsn = dsn_sink.wait_messages(1)[0]
            assert dsn.mail_from in ("", "<>") and dsn.rcpt_tos == ["alice@sender.test"]
            assert b"multipart/report" in dsn.data and b"nobody@example.com" in dsn.data
            assert b"5.1.1" in dsn.data
            mid = mid_of(g, "partial")
            log = wait_finished(g, [mid])
            generated = dsns(log)
            assert [m for _, m in generated] == [mid], generated
            wait_finished(g, [generated[0][0]])  # the DSN itself was delivered, once
            assert len(dsn_sink.messages) == 1
            assert re.search(r"Bounced: DCID \d+ MID \d+ to RID 1 - 5\.1\.1 - .*\('550'",
                             g.mail_log())
        finally:
            g.cleanup()


def test_expiry_gives_exactly_one_dsn_and_null_sender_none():
    with Sink(rcpt_reply=lambda a: "451 4.4.1 Not now") as sink, Sink() as dsn_sink:
        extra = "delivery:\n  retry: {initial: 1s, max_interval: 1s, max_queue_time: 3s}\n"
        g = gw_with({"example.com": sink.port, "sender.test": dsn_sink.port}, extra=extra).start()
        try:
            send(g, "bob@example.com", "expire")
            send(g, "bob@example.com", "nullsender", sender="")
            dsn = dsn_sink.wait_messages(1, timeout=30)[0]
            assert dsn.rcpt_tos == ["alice@sender.test"] and b"4.4.7" in dsn.data
            expired, null_sender = mid_of(g, "expire"), mid_of(g, "nullsender")
            log = wait_finished(g, [expired, null_sender])
            generated = dsns(log)
            assert [m for _, m in generated] == [expired], \
                f"exactly one DSN, none for the null sender: {generated}"
            wait_finished(g, [generated[0][0]])
            assert len(dsn_sink.messages) == 1
        finally:
            g.cleanup()


def test_nxdomain_is_a_hard_bounce_logged():
    with Dnsmasq([]) as dns, Sink() as dsn_sink:
        g = Gateway(extra_yaml=(f"dns: {{servers: [127.0.0.1:{dns.port}]}}\n"
                                f"smtp_routes:\n  sender.test: [127.0.0.1:{dsn_sink.port}]\n"),
                    accepted=("nx.test",)).start()
        try:
            send(g, "bob@nx.test", "nxdomain")
            g.wait_log("DNS Error nx.test MX - NXDomain", timeout=20)
            g.wait_log("Message finished MID", timeout=20)
            assert re.search(r"Bounced: DCID 0 MID \d+ to RID 0 - 5\.1\.2 - ", g.mail_log())
            dsn = dsn_sink.wait_messages(1)[0]
            assert b"bob@nx.test" in dsn.data
        finally:
            g.cleanup()


def test_blackholed_destination_does_not_slow_others():
    with Sink() as sink, Blackhole() as hole:
        g = gw_with({"example.com": sink.port, "example.org": hole.port},
                    accepted=("example.com", "example.org")).start()
        try:
            for i in range(5):
                send(g, "x@example.org", f"stuck{i}")
            start = time.time()
            for i in range(50):
                send(g, "bob@example.com", f"flow{i}")
            sink.wait_messages(50, timeout=30)
            elapsed = time.time() - start
            assert elapsed < 15, f"50 messages took {elapsed:.1f}s behind a blackholed destination"
        finally:
            g.cleanup()
