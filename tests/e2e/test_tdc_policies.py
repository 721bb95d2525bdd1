"""Incoming mail policies and journaling (issue 4): DEFAULT (global A), Sales (custom B), Legal
(off), Support (default) — four originals delivered, three journal copies, over TLS 1.2+, each
report carrying the right recipients and the original byte for byte."""
import re
import smtplib
import tempfile

from peers import Sink
from tdc_fixtures import A, B, intake_certs, parse_journal, tdc_gateway

MSG = (b"From: alice@sender.test\r\nTo: many\r\nSubject: quarterly numbers\r\n"
       b"Message-ID: <q4@sender.test>\r\n\r\nline one\r\n.dotted\r\n8bit caf\xc3\xa9\r\n")
RCPTS = ["joe@example.com", "ann@sales.example.com", "lee@legal.example.com",
         "sue@support.example.com"]


def test_four_policies_three_copies_byte_exact_over_tls():
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink(certs=certs, require_tls=True) as intake, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
                s.sendmail("alice@sender.test", RCPTS, MSG)
            originals = next_hop.wait_messages(4)
            copies = intake.wait_messages(3)
            by_rcpt = {m.rcpt_tos[0]: m for m in originals}
            assert sorted(by_rcpt) == sorted(RCPTS)
            for m in originals:
                assert len(m.rcpt_tos) == 1
            assert all(c.tls_version in ("TLSv1.2", "TLSv1.3") for c in copies)
            assert all(c.mail_from in ("", "<>") for c in copies)
            to_a = [c for c in copies if c.rcpt_tos == [A]]
            to_b = [c for c in copies if c.rcpt_tos == [B]]
            assert len(to_a) == 2 and len(to_b) == 1
            reported = {}
            for c in copies:
                text, original = parse_journal(c.data)
                rcpts = re.findall(r"(?m)^To: (.*?)\r?$", text)
                assert len(rcpts) == 1
                assert "Sender: alice@sender.test" in text
                assert "Subject: quarterly numbers" in text
                assert "Message-Id: <q4@sender.test>" in text
                # byte for byte what the next hop received for that recipient
                assert original == by_rcpt[rcpts[0]].data
                reported[rcpts[0]] = c.rcpt_tos[0]
            assert reported == {"joe@example.com": A, "sue@support.example.com": A,
                                "ann@sales.example.com": B}
            g.wait_log("successfully delivered for scanning")
            log = g.mail_log()
            assert len(re.findall(r"was split creating MID \d+ due to a per-recipient policy",
                                  log)) == 3
            for policy in ("Sales", "Legal", "Support", "DEFAULT"):
                assert re.search(rf"MID \d+ matched all recipients for per-recipient policy "
                                 rf"{policy} in the inbound table", log)
            assert len(re.findall(r"MID \d+ generated based on MID \d+ by Threat Defense "
                                  r"Connector", log)) == 3
            assert len(re.findall(r"TDC: MID \d+ with Message-ID '<q4@sender.test>' enqueued "
                                  r"for delivery to Secure Email Threat Defense", log)) == 3
            g.wait_log("Secure Email Threat Defense\n", timeout=10)
            assert re.search(r"TDC: New SMTP DCID \d+ interface 127.0.0.1 address 127.0.0.1 "
                             rf"port {intake.port}", log)
            assert re.search(r"TDC: Delivery start DCID \d+ MID \d+", log)
        finally:
            g.cleanup()


def test_globally_disabled_means_no_journaling():
    workdir = tempfile.mkdtemp(prefix="tidegate-tdc-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink(certs=certs) as intake, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"])
        g.yaml = g.yaml.replace("  enabled: true\n", "  enabled: false\n")
        open(g.config_path, "w").write(g.yaml)
        g.start()
        try:
            with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
                s.sendmail("alice@sender.test", RCPTS, MSG)
            next_hop.wait_messages(4)
            g.wait_log("Message finished MID")
            assert "Threat Defense Connector" not in g.mail_log()
            assert not intake.messages
        finally:
            g.cleanup()
