"""Content security (issue 16, CONTRACT §10) end to end, with the real engines: rspamd 3.4 and
clamd 1.4 started privately (tests/e2e/engines.py), a next hop and a TLS intake (aiosmtpd), and
dnsmasq serving SPF/DMARC records. Each scenario runs its own gateway; the engines are shared by
the module (rspamd takes seconds to start).

Policies: DEFAULT (spam quarantined, suspect tagged, virus dropped), Tagged (spam tagged),
NoSpam (anti-spam off), VirusQ (virus quarantined). The TDC journals every policy to intake A."""
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import struct
import threading
import smtplib
import subprocess
import tempfile
import time

import pytest

from engines import (AUTH_FAIL_DOMAIN, AUTH_PASS_DOMAIN, CLEAN_BODY, EICAR, Clamd, Rspamd,
                     _message, auth_records, clean_message, eicar_attachment_message,
                     eicar_zip_message, gtube_message, suspect_message, zip_bytes)
from harness import BIN, Gateway, make_certs
from peers import Blackhole, Dnsmasq, Sink
from tdc_fixtures import A, parse_journal

POLICIES = """\
incoming_mail_policies:
  - name: Tagged
    recipients: ["@tag.example.com"]
    anti_spam: {positive: tag, suspect: tag, subject_tag: "[SPAM]"}
  - name: NoSpam
    recipients: ["@nospam.example.com"]
    anti_spam: off
  - name: VirusQ
    recipients: ["@virusq.example.com"]
    anti_virus: {infected: quarantine, unscannable: deliver}
  - name: DEFAULT
    anti_spam: {positive: quarantine, suspect: tag}
    anti_virus: {infected: drop, unscannable: tag}
    threat_defense_connector: global
"""


@pytest.fixture(scope="module")
def env():
    workdir = tempfile.mkdtemp(prefix="tidegate-cs-")
    dns = Dnsmasq(auth_records()).start()
    rspamd = Rspamd(workdir, dns_port=dns.port).start()
    clamd = Clamd(workdir).start()
    certs = make_certs(os.path.join(workdir, "intake-certs"), names=("intake.test", "localhost"))
    yield {"workdir": workdir, "dns": dns, "rspamd": rspamd, "clamd": clamd, "certs": certs}
    clamd.close()
    rspamd.close()
    dns.stop()


class World:
    """A gateway in front of a next hop and a TLS intake, with the module's engines (or others)."""

    def __init__(self, env, spam_url=None, clamd_address=None, max_message_size="10M"):
        self.env = env
        self.next_hop = Sink().start()
        self.intake = Sink(certs=env["certs"], require_tls=True).start()
        spam_url = spam_url or f"http://127.0.0.1:{env['rspamd'].port}"
        clamd_address = clamd_address or f"127.0.0.1:{env['clamd'].port}"
        routes = ("smtp_routes:\n"
                  f"  example.com: [127.0.0.1:{self.next_hop.port}]\n"
                  f"  .example.com: [127.0.0.1:{self.next_hop.port}]\n"
                  f"  intake.test: [127.0.0.1:{self.intake.port}]\n")
        yaml = (routes +
                "delivery:\n  retry: {initial: 1s, max_interval: 2s, max_queue_time: 1h}\n"
                "threat_defense_connector:\n"
                "  enabled: true\n"
                f"  intake_address: {A}\n"
                "  retry_delay: 1s\n"
                f"  tls_ca_file: {env['certs']['ca']}\n"
                f"anti_spam: {{url: '{spam_url}', timeout: 3s, retry_delay: 1s}}\n"
                f"anti_virus: {{address: '{clamd_address}', timeout: 3s, retry_delay: 1s}}\n")
        self.g = Gateway(extra_yaml=yaml, policies=POLICIES, max_message_size=max_message_size,
                         accepted=("example.com", ".example.com"))

    def __enter__(self):
        self.g.start()
        return self

    def __exit__(self, *exc):
        self.g.cleanup()
        self.next_hop.stop()
        self.intake.stop()

    def send(self, message, rcpts, sender="sender@client.test"):
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", self.g.port, timeout=30) as s:
            s.sendmail(sender, rcpts, message)
        return time.monotonic() - started

    def cli(self, *args):
        r = subprocess.run([BIN, "-c", self.g.config_path, *args], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout


def header(data: bytes, name: str):
    head = data.partition(b"\r\n\r\n")[0]
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", head).decode("utf-8", "replace")
    return [v.strip() for v in re.findall(rf"(?im)^{re.escape(name)}:[ \t]*([^\r\n]*)", unfolded)]


def only_message(sink, timeout=30):
    msgs = sink.wait_messages(1, timeout=timeout)
    time.sleep(0.3)  # a duplicate would arrive right behind the first
    assert len(sink.messages) == 1, [m.rcpt_tos for m in sink.messages]
    return msgs[0]


def assert_journaled_as_delivered(world, delivered):
    copy = only_message(world.intake)
    assert copy.rcpt_tos == [A]
    _, original = parse_journal(copy.data)
    assert original == delivered.data  # the delivered form, byte for byte


def test_clean_message_is_delivered_with_authentication_results_and_journaled(env):
    with World(env) as w:
        w.send(clean_message(subject="clean one", mail_from=f"alice@{AUTH_PASS_DOMAIN}"),
               ["joe@example.com"], sender=f"alice@{AUTH_PASS_DOMAIN}")
        m = only_message(w.next_hop)
        ar = header(m.data, "Authentication-Results")
        assert len(ar) == 1, ar
        assert ar[0].startswith("gw.test.example;"), ar
        assert "spf=pass" in ar[0] and "dmarc=pass" in ar[0], ar
        assert header(m.data, "Subject") == ["clean one"]
        assert_journaled_as_delivered(w, m)
        log = w.g.mail_log()
        assert re.search(r"MID \d+ using engine: RSPAMD spam negative score -?[\d.]+", log)
        assert re.search(r"MID \d+ authentication spf=pass dkim=none dmarc=pass", log)
        assert re.search(r"MID \d+ antivirus negative", log)
        # Message tracking shows each event; status counts the verdicts.
        mid = re.search(r"MID (\d+) antivirus negative", log).group(1)
        tracked = w.cli("track", "--mid", mid)
        assert "using engine: RSPAMD spam negative" in tracked, tracked
        assert f"MID {mid} antivirus negative" in tracked, tracked
        status = json.loads(w.cli("status", "--json"))
        assert status["counters"]["spam_negative"] == 1
        assert status["counters"]["virus_negative"] == 1


def test_spf_and_dmarc_fail_reach_the_header(env):
    with World(env) as w:
        w.send(clean_message(subject="forged", mail_from=f"ceo@{AUTH_FAIL_DOMAIN}"),
               ["joe@example.com"], sender=f"ceo@{AUTH_FAIL_DOMAIN}")
        m = only_message(w.next_hop)
        ar = header(m.data, "Authentication-Results")
        assert len(ar) == 1 and "spf=fail" in ar[0] and "dmarc=fail" in ar[0], ar
        w.g.wait_log("authentication spf=fail dkim=none dmarc=fail")


def test_a_forged_authentication_results_for_our_name_is_removed(env):
    forged = clean_message(subject="forged ar", headers={
        "Authentication-Results": "gw.test.example; spf=pass smtp.mailfrom=bank.test; dmarc=pass",
        "X-Other": "kept"})
    with World(env) as w:
        w.send(forged, ["joe@example.com"])
        m = only_message(w.next_hop)
        ar = header(m.data, "Authentication-Results")
        assert len(ar) == 1 and "bank.test" not in ar[0], ar
        assert header(m.data, "X-Other") == ["kept"]


def test_gtube_per_policy_quarantined_tagged_or_delivered(env):
    with World(env) as w:
        w.send(gtube_message(subject="buy now"),
               ["joe@example.com", "ann@tag.example.com", "bob@nospam.example.com"])
        delivered = w.next_hop.wait_messages(2)
        time.sleep(0.5)
        assert len(w.next_hop.messages) == 2
        by_rcpt = {m.rcpt_tos[0]: m for m in delivered}
        assert sorted(by_rcpt) == ["ann@tag.example.com", "bob@nospam.example.com"]
        assert header(by_rcpt["ann@tag.example.com"].data, "Subject") == ["[SPAM] buy now"]
        assert header(by_rcpt["bob@nospam.example.com"].data, "Subject") == ["buy now"]
        # DEFAULT's copy went to the Spam quarantine: no delivery, no journal copy of it; the
        # two delivered policies journal to A (DEFAULT's global intake via "(use default)").
        w.g.wait_log('quarantined to "Spam" (antispam)')
        copies = w.intake.wait_messages(2)
        time.sleep(0.3)
        assert len(w.intake.messages) == 2
        originals = sorted(parse_journal(c.data)[1] for c in copies)
        assert originals == sorted(m.data for m in delivered)
        listing = w.cli("quarantine", "list", "Spam", "--json")
        assert '"subject": "buy now"' in listing


def test_suspect_is_tagged_delivered_and_journaled_tagged(env):
    with World(env) as w:
        w.send(suspect_message(subject="maybe spam"), ["joe@example.com"])
        m = only_message(w.next_hop)
        assert header(m.data, "Subject") == ["[SUSPECTED SPAM] maybe spam"]
        assert any(v.startswith("suspect") for v in header(m.data, "X-Tidegate-Spam")), \
            header(m.data, "X-Tidegate-Spam")
        assert_journaled_as_delivered(w, m)
        w.g.wait_log("using engine: RSPAMD spam suspect score")


@pytest.mark.parametrize("make", [eicar_attachment_message, eicar_zip_message])
def test_eicar_dropped_or_quarantined_per_policy(env, make):
    with World(env) as w:
        w.send(make(subject="invoice"), ["joe@example.com", "vic@virusq.example.com"])
        w.g.wait_log("Dropped by antivirus")
        w.g.wait_log('quarantined to "Virus" (antivirus)')
        assert re.search(r"antivirus positive 'Eicar-Test-Signature", w.g.mail_log())
        time.sleep(0.5)
        assert w.next_hop.messages == [] and w.intake.messages == []
        listing = w.cli("quarantine", "list", "Virus", "--json")
        assert '"vic@virusq.example.com"' in listing


def test_release_delivers_and_journals_then(env):
    with World(env) as w:
        w.send(gtube_message(subject="false positive"), ["joe@example.com"])
        w.g.wait_log('quarantined to "Spam"')
        mid = int(re.search(r'MID (\d+) quarantined to "Spam"', w.g.mail_log()).group(1))
        assert w.next_hop.messages == [] and w.intake.messages == []
        out = w.cli("quarantine", "release", str(mid))
        assert f"MID {mid} released" in out
        m = only_message(w.next_hop)
        assert header(m.data, "Subject") == ["false positive"]
        assert_journaled_as_delivered(w, m)
        w.g.wait_log(f'MID {mid} released from quarantine "Spam" by admin')
        assert '"total": 0' in w.cli("quarantine", "list", "--json")


def test_engine_down_holds_the_message_until_it_returns_then_one_delivery(env):
    clamd = env["clamd"]
    clamd.stop()
    try:
        with World(env) as w:
            took = w.send(clean_message(subject="held"), ["joe@example.com"])
            assert took < 5
            w.g.wait_log("anti-virus scan failed:", timeout=15)
            assert re.search(r"MID \d+ anti-virus scan failed: .*; will retry in 1 seconds",
                             w.g.mail_log())
            time.sleep(1.5)
            assert w.next_hop.messages == []
            clamd.start()
            m = only_message(w.next_hop, timeout=30)
            assert header(m.data, "Subject") == ["held"]
            assert_journaled_as_delivered(w, m)
    finally:
        if clamd.proc is None or clamd.proc.poll() is not None:
            clamd.start()


def test_hanging_engine_never_delays_the_250_and_a_crash_mid_scan_loses_nothing(env):
    with Blackhole() as hang:
        w = World(env, spam_url=f"http://127.0.0.1:{hang.port}")
        with w:
            took = w.send(clean_message(subject="slow engine"), ["joe@example.com"])
            assert took < 2, took
            w.g.wait_log("anti-spam scan failed:", timeout=15)
            assert w.next_hop.messages == []
            # kill -9 while the message waits for its verdict; restart with a working engine.
            w.g.kill()
            with open(w.g.config_path) as f:
                yaml = f.read()
            yaml = yaml.replace(f"http://127.0.0.1:{hang.port}",
                                f"http://127.0.0.1:{env['rspamd'].port}")
            with open(w.g.config_path, "w") as f:
                f.write(yaml)
            w.g.start()
            m = only_message(w.next_hop, timeout=30)
            assert header(m.data, "Subject") == ["slow engine"]
            assert_journaled_as_delivered(w, m)


class HostileRspamd:
    """An HTTP peer on rspamd's port that answers /checkv2 with what `mode` says: garbage JSON, an
    unknown action, a 5 MB reply, a 500, or a reset. Counts the requests it got."""

    def __init__(self):
        self.mode = "garbage"
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(n)
                outer.requests += 1
                mode = outer.mode
                if mode == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                body = {"garbage": b"{\"action\": \"no action\", \"score\": ",
                        "unknown": b'{"action": "delete everything", "score": 1, "symbols": {}}',
                        "huge": b'{"action": "no action", "x": "' + b"A" * (5 << 20) + b'"}',
                        "error": b"internal error"}[mode]
                self.send_response(500 if mode == "error" else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_hostile_engine_replies_are_never_verdicts_and_the_message_waits(env):
    hostile = HostileRspamd()
    try:
        w = World(env, spam_url=f"http://127.0.0.1:{hostile.port}")
        with w:
            w.send(clean_message(subject="hostile"), ["joe@example.com"])
            for mode, reason in (("garbage", "anti-spam scan failed: "),
                                 ("unknown", "anti-spam scan failed: "),
                                 ("huge", "anti-spam scan failed: "),
                                 ("error", "anti-spam scan failed: "),
                                 ("reset", "anti-spam scan failed: ")):
                hostile.mode = mode
                seen = hostile.requests
                deadline = time.time() + 15
                while hostile.requests == seen and time.time() < deadline:
                    time.sleep(0.05)
                assert hostile.requests > seen, mode
                assert w.g.proc.poll() is None, mode
            time.sleep(1.2)
            fails = re.findall(r"MID \d+ anti-spam scan failed: ([^;]*); will retry in 1 seconds",
                               w.g.mail_log())
            assert len(fails) >= 5, fails
            assert w.next_hop.messages == [] and w.intake.messages == []
            # The operator points the gateway at a real rspamd: SIGHUP, and the message goes.
            with open(w.g.config_path) as f:
                yaml = f.read()
            with open(w.g.config_path, "w") as f:
                f.write(yaml.replace(f"http://127.0.0.1:{hostile.port}",
                                     f"http://127.0.0.1:{env['rspamd'].port}"))
            w.g.proc.send_signal(signal.SIGHUP)
            m = only_message(w.next_hop, timeout=30)
            assert header(m.data, "Subject") == ["hostile"]
            assert_journaled_as_delivered(w, m)
    finally:
        hostile.stop()


def test_big_nested_and_odd_messages_are_scanned_or_unscannable_never_a_crash(env):
    big = _message("big attachment", CLEAN_BODY,
                   attachments=[("data.bin", os.urandom(10 << 20), "application/octet-stream")])
    inner = _message("inner", CLEAN_BODY, attachments=[("eicar.zip", zip_bytes({"e.com": EICAR}),
                                                         "application/zip")])
    nested = (b"From: b@client.test\r\nTo: joe@example.com\r\nSubject: nested\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
              b"--outer\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
              b"--outer\r\nContent-Type: message/rfc822\r\n\r\n" + inner +
              b"\r\n--outer--\r\n")
    with World(env, max_message_size="20M") as w:
        # 10 MB: over rspamd's 2M max_message_size (skipped, logged) and over the clamd
        # fixture's StreamMaxLength (unscannable: DEFAULT tags and delivers it).
        w.send(big, ["joe@example.com"])
        m = only_message(w.next_hop, timeout=60)
        assert header(m.data, "Subject") == ["[WARNING: A/V UNSCANNABLE] big attachment"], \
            header(m.data, "Subject")
        log = w.g.mail_log()
        assert re.search(r"MID \d+ using engine: RSPAMD spam skipped size \d{8}", log), log
        assert re.search(r"MID \d+ antivirus unscannable ", log), log
        # A virus inside a zip inside a forwarded message: still found.
        w.send(nested, ["joe@example.com"])
        w.g.wait_log("Dropped by antivirus", timeout=30)
        # Bytes a parser might trip on (NUL, bare CR, 8-bit) in the body: a clear answer either
        # way, and the gateway keeps running.
        odd = (b"From: a@client.test\r\nTo: joe@example.com\r\nSubject: odd\r\n\r\n"
               b"nul\x00byte bare\rcr caf\xc3\xa9\r\n")
        try:
            w.send(odd, ["joe@example.com"])
            w.next_hop.wait_messages(2, timeout=30)
        except smtplib.SMTPDataError as e:
            assert 500 <= e.smtp_code < 600, e
        assert w.g.proc.poll() is None
