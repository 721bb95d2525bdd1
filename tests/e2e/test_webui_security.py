"""The content-security pages of the Web UI in a real browser (issue 16, CONTRACT §10):
tests/webui/security.test.mjs (playwright-core driving Debian's chromium) against a gateway
whose quarantine already holds three messages (files in the store's `TGQ1 <n>\\n<json>\\n<message>`
format, which the store indexes at start), whose anti_spam engine is a tiny fake rspamd that
answers GET /ping with pong, and whose anti_virus address has nothing listening. Afterwards
this file checks the config file, the next hop (the released message) and the mail log.
Screenshots: tests/out/webui-security/ (git-ignored)."""
import http.server
import json
import os
import subprocess
import tempfile
import threading
import time

from browser import out_dir, require_browser, run_webui
from harness import BIN, Gateway, free_port
from peers import Sink

OUT = out_dir("webui-security")

POLICIES = """\
incoming_mail_policies:
  - name: Sales
    recipients: ["@sales.example.com"]
  - name: Legal
    recipients: ["@legal.example.com"]
    anti_spam: off
    anti_virus: {infected: quarantine, unscannable: deliver}
  - name: DEFAULT
    anti_spam: {positive: quarantine, suspect: tag}
    threat_defense_connector: off
"""


class FakeRspamd:
    """GET /ping → 200 pong, as rspamd's normal worker answers; nothing else."""

    def __init__(self):
        self.pings = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/ping":
                    self.send_error(404)
                    return
                fake.pings += 1
                body = b"pong\r\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def quarantine_file(directory, quarantine, mid, stored_ms, sender, rcpt, subject, reason,
                    message: bytes):
    """One message written as quarantine::Store writes it (src/quarantine/store.h)."""
    meta = {"mid": mid, "icid": 1, "parent_mid": 0, "kind": 0, "received_ms": stored_ms - 1000,
            "sender": sender, "recipients": [{"rid": 0, "address": rcpt, "state": 0}],
            "policy": "DEFAULT",
            "attrs": {"subject": subject, "message_id": f"<q{mid}@sender.test>"}}
    head = json.dumps({"meta": meta, "reason": reason, "stored_ms": stored_ms}).encode()
    folder = os.path.join(directory, quarantine)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{mid}.msg"), "wb") as f:
        f.write(b"TGQ1 %d\n" % len(head) + head + b"\n" + message)


def message(mid, subject: bytes, extra=b""):
    return (b"From: spammer@sender.test\r\nTo: sue@sales.example.com\r\n"
            b"Subject: " + subject + b"\r\n" +
            b"Message-ID: <q%d@sender.test>\r\n" % mid + extra +
            b"\r\nbody of %d\r\n" % mid)


def test_webui_security_in_chromium():
    require_browser()
    workdir = tempfile.mkdtemp(prefix="tidegate-webui-sec-")
    rspamd = FakeRspamd()
    dead_clamd = free_port()
    now = int(time.time() * 1000)
    with Sink() as next_hop:
        yaml = (f"smtp_routes:\n  .example.com: [127.0.0.1:{next_hop.port}]\n"
                f"  example.com: [127.0.0.1:{next_hop.port}]\n"
                "delivery:\n  retry: {initial: 1s, max_interval: 2s, max_queue_time: 1h}\n"
                f"anti_spam: {{url: 'http://127.0.0.1:{rspamd.port}', timeout: 3s, "
                "max_concurrency: 8, max_message_size: 4M, retry_delay: 7s}\n"
                f"anti_virus: {{address: '127.0.0.1:{dead_clamd}', timeout: 2s, "
                "retry_delay: 9s}\n")
        g = Gateway(workdir=workdir, extra_yaml=yaml, policies=POLICIES,
                    accepted=("example.com", ".example.com"))
        qdir = os.path.join(g.data_dir, "quarantine")
        quarantine_file(qdir, "Spam", 9001, now - 30000, "spammer@sender.test",
                        "sue@sales.example.com", "cheap invoice", "spam score 20.00",
                        message(9001, b"cheap invoice"))
        quarantine_file(qdir, "Spam", 9002, now - 20000, "spammer@sender.test",
                        "sue@sales.example.com", "<script>alert(1)</script>",
                        "spam score 99.00",
                        message(9002, b"<script>alert(1)</script>",
                                b"X-Evil: <img src=x onerror=alert(2)> caf\xe9\r\n"))
        quarantine_file(qdir, "Virus", 9003, now - 10000, "virus@sender.test",
                        "lee@legal.example.com", "your parcel", "virus Eicar-Test-Signature",
                        message(9003, b"your parcel"))
        g.start()
        try:
            run_webui("security.test.mjs", g,
                      WEBUI_URL=f"http://127.0.0.1:{g.admin_port}",
                      WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
                      RSPAMD_URL=f"http://127.0.0.1:{rspamd.port}",
                      CLAMD_ADDRESS=f"127.0.0.1:{dead_clamd}",
                      WEBUI_OUT=OUT)

            # The released message went on to its recipient; the deleted one did not.
            got = next_hop.wait_messages(1)
            assert [m.rcpt_tos for m in got] == [["sue@sales.example.com"]]
            assert b"<q9002@sender.test>" in got[0].data
            log = g.mail_log()
            assert 'MID 9002 released from quarantine "Spam" by admin' in log, log
            assert "quarantine release 9002" in log and "quarantine delete 9001" in log, log
            assert not os.path.exists(os.path.join(qdir, "Spam", "9001.msg"))
            assert not os.path.exists(os.path.join(qdir, "Spam", "9002.msg"))
            assert os.path.exists(os.path.join(qdir, "Virus", "9003.msg"))
            # The connection tests reached the fake rspamd, and were audited.
            assert rspamd.pings >= 1
            assert "antispam test connection: OK" in log, log
            assert "antivirus test connection: connection refused" in log, log

            # Committed through the ConfigEditor, before the TDC key, audited.
            config = open(g.config_path).read()
            sales = config.split("  - name: Sales\n", 1)[1].split("  - name: Legal", 1)[0]
            assert sales == ('    recipients: ["@sales.example.com"]\n'
                             '    anti_spam: {positive: tag, suspect: deliver, '
                             'subject_tag: "[WEB <b>]"}\n'), config
            assert "    anti_virus: off\n    threat_defense_connector: off\n" in \
                config.split("  - name: DEFAULT\n", 1)[1], config
            assert "policyconfig antispam Sales off" in log, log
            assert ('policyconfig antispam Sales on positive=tag suspect=deliver '
                    'subject_tag="[WEB <b>]"') in log, log
            assert os.path.exists(g.config_path + ".prev")

            # The same setting through the CLI (POST /api/v1/policies/<name>/antivirus).
            def cli(*args, ok=True):
                r = subprocess.run([BIN, "-c", g.config_path, *args], capture_output=True,
                                   text=True, timeout=60)
                assert (r.returncode == 0) == ok, (args, r.stdout, r.stderr)
                return r
            cli("policyconfig", "antivirus", "Legal", "on", "infected=drop",
                "subject_tag=[AV]")
            shown = cli("policyconfig", "show", "Legal").stdout
            assert "Anti-Spam: Disabled (off)\n" in shown, shown
            assert ('Anti-Virus: Enabled (on) infected=drop unscannable=tag '
                    'subject_tag="[AV]"\n') in shown, shown
            assert "    anti_virus: {infected: drop, unscannable: tag, subject_tag: \"[AV]\"}\n" \
                in open(g.config_path).read()
            bad = cli("policyconfig", "antispam", "DEFAULT", "default", ok=False)
            assert "DEFAULT" in bad.stderr, bad.stderr
            listing = json.loads(cli("policyconfig", "--json", "list").stdout)
            sales = [p for p in listing["policies"] if p["name"] == "Sales"][0]
            assert sales["anti_spam"]["display"] == "Enabled"
            assert sales["anti_spam"]["positive"] == "tag"
            assert sales["anti_virus"]["display"] == "(use default)"
        finally:
            g.cleanup()
            rspamd.stop()
