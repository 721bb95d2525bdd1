"""Delivery Status per host (issue 19): the hoststatus figures per destination in the API, the CLI
and a Web UI page per destination, and "Recipients delivered" split into mail and journal copies.

Real mail through the gateway: one message delivered to its next hop (with its journal copy
delivered to a STARTTLS intake), one refused with 550 by the same next hop (a hard bounce), and
one to dead.example.com whose route is a closed port (the destination goes down). Then the API
(/api/v1/hoststatus, /api/v1/status), the CLI (hoststatus, status) and, in Debian's chromium,
tests/webui/hoststatus.test.mjs: Delivery Status, the link of each row to its page, the figures
there, the split and the 404 pages. Screenshots: tests/out/webui-hoststatus/ (git-ignored)."""
import smtplib
import subprocess
import tempfile
import time
import urllib.parse

from browser import out_dir, require_browser, run_webui
from harness import BIN, free_port
from peers import Sink
from tdc_fixtures import intake_certs, tdc_gateway

OUT = out_dir("webui-hoststatus")


def hoststatus(g, domain):
    status, body = g.api("/api/v1/hoststatus?domain=" + urllib.parse.quote(domain))
    assert status == 200, body
    return body


def cli(g, *args):
    r = subprocess.run([BIN, "-c", g.config_path, *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def send(g, rcpt, subject):
    msg = f"Subject: {subject}\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.sendmail("alice@sender.test", [rcpt], msg)


def wait_for(pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not seen within {timeout} s")


def test_delivery_status_per_host():
    require_browser()
    workdir = tempfile.mkdtemp(prefix="tidegate-webui-hs-")
    certs = intake_certs(workdir)
    dead_port = free_port()  # nothing listens there: connection refused
    refuse = lambda rcpt: "550 5.1.1 no such user" if rcpt.startswith("nobody@") else None
    with Sink(rcpt_reply=refuse) as next_hop, Sink(certs=certs, require_tls=True) as intake, \
            Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"],
                        routes_extra=f"  dead.example.com: [127.0.0.1:{dead_port}]\n").start()
        try:
            send(g, "joe@example.com", "hs-delivered")
            send(g, "nobody@example.com", "hs-bounced")
            send(g, "ann@dead.example.com", "hs-down")
            # One original delivered, three journal copies (one per message), one DSN.
            wait_for(lambda: len(next_hop.messages) == 1 and len(intake.messages) == 3 and
                     len(dsn.messages) == 1, "deliveries")
            wait_for(lambda: hoststatus(g, "dead.example.com").get("status") == "down",
                     "dead.example.com down")
            wait_for(lambda: hoststatus(g, "the.tdc.queue").get("delivered") == 3,
                     "three journal copies counted")
            wait_for(lambda: hoststatus(g, "example.com").get("hard_bounced") == 1,
                     "the hard bounce counted")
            wait_for(lambda: hoststatus(g, "sender.test").get("delivered") == 1,
                     "the DSN counted")

            # --- /api/v1/status: the split adds up, each half equal to what the peers got -----
            _, status = g.api("/api/v1/status")
            c = status["counters"]
            # The DSN to sender.test is mail too.
            assert c["recipients_delivered_mail"] == len(next_hop.messages) + len(dsn.messages) \
                == 2, c
            assert c["recipients_delivered_journal"] == len(intake.messages) == 3, c
            assert c["recipients_delivered"] == (c["recipients_delivered_mail"] +
                                                 c["recipients_delivered_journal"]), c

            # --- /api/v1/hoststatus --------------------------------------------------------
            now = time.time()
            h = hoststatus(g, "Example.COM")  # any case
            assert h["domain"] == "example.com" and h["known"] and h["status"] == "up", h
            assert (h["delivered"], h["delivered_mail"], h["delivered_journal"]) == (1, 1, 0), h
            assert (h["soft_bounced"], h["hard_bounced"], h["active_recipients"]) == (0, 1, 0), h
            assert h["ips_used"] == [f"127.0.0.1:{next_hop.port}"], h
            assert any(f":{next_hop.port}" in hop for hop in h["next_hops"]), h
            assert h["last_5xx"].startswith("550"), h
            assert now - 120 < h["last_activity"] <= now + 1, h
            assert h["next_attempt"] is None and h["journal"] is False, h
            t = hoststatus(g, "the.tdc.queue")
            assert t["journal"] is True and t["status"] == "up", t
            assert (t["delivered"], t["delivered_mail"], t["delivered_journal"]) == (3, 0, 3), t
            assert t["ips_used"] == [f"127.0.0.1:{intake.port}"], t
            d = hoststatus(g, "dead.example.com")
            assert d["status"] == "down" and d["active_recipients"] == 1, d
            assert d["soft_bounced"] >= 1 and d["delivered"] == 0 and d["ips_used"] == [], d
            assert d["last_error"] and d["last_error_at"] is not None, d
            assert d["next_attempt"] is not None and d["next_attempt"] >= now - 5, d
            unknown = hoststatus(g, "nowhere.example.net")
            assert unknown["known"] is False and unknown["status"] == "unknown", unknown
            code, body = g.api("/api/v1/hoststatus?domain=" + urllib.parse.quote("<b>x</b>"))
            assert code == 400, body

            # --- the CLI -------------------------------------------------------------------
            out = cli(g, "hoststatus", "dead.example.com")
            assert "Status: down\n" in out and "Active recipients: 1\n" in out, out
            assert "Next attempt: " in out and "Next attempt: none" not in out, out
            assert "IPs used: none yet\n" in out and "Last error: none" not in out, out
            out = cli(g, "hoststatus", "the.tdc.queue")
            assert "Delivered recipients: 3\n  mail: 0\n  journal copies: 3\n" in out, out
            assert f"IPs used: 127.0.0.1:{intake.port}\n" in out, out
            out = cli(g, "status")
            assert "  recipients_delivered_journal" in out and "  recipients_delivered_mail" in out

            # --- the Web UI in chromium ----------------------------------------------------
            run_webui("hoststatus.test.mjs", g,
                      WEBUI_URL=f"http://127.0.0.1:{g.admin_port}",
                      WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
                      WEBUI_OUT=OUT,
                      NEXT_HOP=f"127.0.0.1:{next_hop.port}", INTAKE=f"127.0.0.1:{intake.port}",
                      DELIVERED_MAIL=str(c["recipients_delivered_mail"]),
                      DELIVERED_JOURNAL=str(c["recipients_delivered_journal"]))
        finally:
            g.cleanup()
