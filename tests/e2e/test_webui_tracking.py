"""Monitor › Message Tracking in a real browser (issue 19, CONTRACT §12): tests/webui/
tracking.test.mjs (playwright-core driving Debian's chromium, 1366x900) against a gateway that
journals to a TLS intake: the search form (match mode, subject, sender IP, the journal toggle),
no horizontal scroll at 1366 px with a long Message-ID, the details page's delivery connection
(DCID, address, port, TLS protocol and cipher) and paging past 200. Screenshots:
tests/out/webui-tracking/ (git-ignored). Search semantics on both backends:
test_tracking_search.py."""
import os
import smtplib
import subprocess
import tempfile

from peers import Sink
from tdc_fixtures import intake_certs, tdc_gateway
from test_tracking_search import api, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
WEBUI = os.path.join(HERE, "..", "webui")
OUT = os.path.join(HERE, "..", "out", "webui-tracking")
SUBJECT = "Browser tracking check"
LONG_ID = "x" * 40 + "." + "y" * 40 + "@a-rather-long-host-name.sender.test"


def test_webui_tracking_in_chromium():
    assert os.path.exists("/usr/bin/chromium"), "chromium is missing: run `make deps`"
    assert os.path.isdir(os.path.join(WEBUI, "node_modules", "playwright-core")), \
        "playwright-core is missing: run `make deps`"
    workdir = tempfile.mkdtemp(prefix="tidegate-webui-track-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink(certs=certs) as intake, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            msg = (f"Subject: {SUBJECT}\r\nMessage-ID: <{LONG_ID}>\r\n\r\nbody\r\n")
            with smtplib.SMTP("127.0.0.1", g.port, timeout=30,
                              source_address=("127.0.0.7", 0)) as s:
                s.sendmail("someone.with.a.long.address@a-long-sender-domain.sender.test",
                           ["bob@example.com"], msg.encode())
            with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as s:
                for i in range(205):
                    s.sendmail("bulk@bulk.test", ["erin@example.com"],
                               f"Subject: bulk {i:03}\r\n\r\nx\r\n".encode())
            wait_for(lambda: len(intake.messages) >= 206 and len(next_hop.messages) >= 206,
                     what="delivery")
            wait_for(lambda: all(r["status"] == "delivered" for r in
                                 api(g, {"sender_ip": "127.0.0.7", "include_journal": "1"})[1])
                     and len(api(g, {"sender": "bulk@bulk.test", "limit": 1000})[1]) == 205,
                     what="tracking rows")
            env = dict(os.environ,
                       WEBUI_URL=f"http://127.0.0.1:{g.admin_port}",
                       WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
                       WEBUI_OUT=os.path.abspath(OUT), TRACK_SUBJECT=SUBJECT)
            run = subprocess.run(["node", "--test", "--test-reporter=spec", "tracking.test.mjs"],
                                 cwd=WEBUI, env=env, capture_output=True, text=True, timeout=300)
            print(run.stdout)
            print(run.stderr)
            assert run.returncode == 0, "browser test failed (output above); gateway log:\n" + \
                g.mail_log()[-4000:]
        finally:
            g.cleanup()
