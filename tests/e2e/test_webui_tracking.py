"""Monitor › Message Tracking in a real browser (issue 19, CONTRACT §12): tests/webui/
tracking.test.mjs (playwright-core driving Debian's chromium, 1366x900) against a gateway that
journals to a TLS intake: the search form (match mode, subject, sender IP, the journal toggle),
no horizontal scroll at 1366 px with a long Message-ID, the details page's delivery connection
(DCID, address, port, TLS protocol and cipher) and paging past 200. Screenshots:
tests/out/webui-tracking/ (git-ignored). Search semantics on both backends:
test_tracking_search.py."""
import smtplib
import tempfile

from browser import out_dir, require_browser, run_webui
from peers import Sink
from tdc_fixtures import intake_certs, tdc_gateway
from test_tracking_search import api, wait_for

OUT = out_dir("webui-tracking")
SUBJECT = "Browser tracking check"
LONG_ID = "x" * 40 + "." + "y" * 40 + "@a-rather-long-host-name.sender.test"


def test_webui_tracking_in_chromium():
    require_browser()
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
            run_webui("tracking.test.mjs", g,
                      WEBUI_URL=f"http://127.0.0.1:{g.admin_port}",
                      WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
                      WEBUI_OUT=OUT, TRACK_SUBJECT=SUBJECT)
        finally:
            g.cleanup()
