"""The Web UI of cluster mode (issue 18, CONTRACT §11 "Web UI") in a real browser:
tests/webui/cluster.test.mjs (playwright-core driving Debian's chromium) against two gateways,
gw1 and gw2, on one private etcd (tests/e2e/etcd.py). The Cluster page lists both machines with
their health and applied revision; on gw1 the Threat Defense Connector page shows
`Mode — Cluster: Test_Cluster`, Change Mode... to machine gw1, Override here, TDC disabled with a
comment (gw2 stays enabled), Inherit brings gw1 back; every form carries its CSRF token and a
post without it is refused; a refused mode change (400) and, with etcd stopped, a refused commit
(503) are shown in the page's alert. Afterwards this file checks both gateways through the CLI and
their logs (the comment reached the cluster's log line on gw1 and gw2). Screenshots:
tests/out/webui-cluster/ (git-ignored). The pure rendering: src/webui/cluster_page_test.cc."""
import json
import shutil
import tempfile
import time
import uuid

from browser import out_dir, require_browser, run_webui
from etcd import EtcdCluster
from test_cluster import Peers, cli, committed_revision, machine, tdc_enabled, wait_applied

OUT = out_dir("webui-cluster")


def run_browser(phase, gw1, gw2):
    run_webui("cluster.test.mjs", gw1, what=f"browser test ({phase})",
              WEBUI_URL=f"http://127.0.0.1:{gw1.admin_port}",
              WEBUI_URL2=f"http://127.0.0.1:{gw2.admin_port}",
              WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
              WEBUI_OUT=OUT, WEBUI_PHASE=phase)


def machines(g):
    return json.loads(cli(g, "clusterconfig", "machines", "--json").stdout)["machines"]


def test_webui_cluster_in_chromium():
    require_browser()
    workdir = tempfile.mkdtemp(prefix="tidegate-webui-cl-")
    etcd = EtcdCluster(workdir, members=1).start()
    peers = Peers()
    prefix = f"/ui{uuid.uuid4().hex[:8]}/"
    gw1 = gw2 = None
    try:
        gw1 = machine(etcd, peers, prefix, "gw1").start()
        gw1.wait_log("Cluster configuration revision")
        gw2 = machine(etcd, peers, prefix, "gw2").start()
        rev = committed_revision(gw1)
        wait_applied([gw1, gw2], rev, 10)

        def registered():  # both entries, healthy, at the bootstrap revision
            return sorted((m["name"], m["applied_revision"], m["healthy"]) for m in machines(gw1))

        deadline = time.monotonic() + 20
        while registered() != [("gw1", rev, True), ("gw2", rev, True)] and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert registered() == [("gw1", rev, True), ("gw2", rev, True)], registered()

        run_browser("up", gw1, gw2)

        # What the browser did, seen from outside: gw1 is back on the cluster's (enabled)
        # section, its mode is still machine gw1; the comments reached both machines' logs.
        assert tdc_enabled(gw1) and tdc_enabled(gw2)
        show = json.loads(cli(gw1, "clusterconfig", "show", "--json").stdout)
        assert show["mode"] == {"level": "machine", "name": "gw1"}, show
        origin = {s["section"]: s["level"] for s in show["sections"]}
        assert origin["threat_defense_connector"] == "cluster", show
        for g in (gw1, gw2):
            log = g.mail_log()
            assert "(machine gw1, by admin: pin TDC on gw1)" in log, log[-3000:]
            assert "(machine gw1, by admin: gw1 off for a test)" in log, log[-3000:]
            # The history page's two rollbacks, at machine gw1's level, reached both.
            assert "(machine gw1, by admin: rollback to " in log, log[-3000:]
            assert ": inherit again)" in log, log[-3000:]
        audit = gw1.mail_log()
        assert "clusterconfig mode machine gw1" in audit
        assert "clusterconfig override threat_defense_connector machine gw1" in audit
        assert "clusterconfig inherit threat_defense_connector machine gw1" in audit

        # The configuration store down: a commit from the page is refused with 503, shown.
        etcd.stop()
        gw1.wait_log("Cluster configuration store disconnected", timeout=20)
        run_browser("down", gw1, gw2)
        assert tdc_enabled(gw1)
    finally:
        for g in (gw2, gw1):
            if g is not None:
                g.cleanup()
        peers.close()
        etcd.close()
        shutil.rmtree(workdir, ignore_errors=True)
