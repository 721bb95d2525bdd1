"""Web UI staging and the Configuration History page (issue 19, CONTRACT §12) in a real browser:
tests/webui/history.test.mjs stages changes on two pages (banner everywhere, nothing live),
abandons them, stages again and commits with a comment (one entry), hits a conflict when the API
committed meanwhile, and rolls back to entry 1. Afterwards this file checks, through the real
CLI, that the history is exactly those entries and the file is entry 1 again."""
import json
import subprocess
import tempfile

from browser import out_dir, require_browser, run_webui
from harness import BIN
from peers import Sink
from tdc_fixtures import A, intake_certs, tdc_gateway

OUT = out_dir("webui-history")
NEW = "d4d4d4d4-0000-4000-8000-00000000000d@intake.test"


def test_webui_staging_and_history_in_chromium():
    require_browser()
    workdir = tempfile.mkdtemp(prefix="tidegate-webui-hist-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink(certs=certs) as intake, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            first = open(g.config_path).read()
            run_webui("history.test.mjs", g,
                      WEBUI_URL=f"http://127.0.0.1:{g.admin_port}",
                      WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
                      GLOBAL_INTAKE=A, NEW_INTAKE=NEW, WEBUI_OUT=OUT)
            r = subprocess.run([BIN, "-c", g.config_path, "configs", "list", "--json"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            entries = [(e["number"], e["user"], e["comment"]) for e in json.loads(r.stdout)]
            # Abandoned changes and the refused commit recorded nothing.
            assert entries == [(1, "file", "configuration at first start"),
                               (2, "admin", "browser <b>commit</b>"),
                               (3, "admin", "api meanwhile"),
                               (4, "admin", "rollback to 1")], entries
            assert open(g.config_path).read() == first
            assert "audit: user=admin" in g.mail_log() and "commit changes" in g.mail_log()
        finally:
            g.cleanup()
