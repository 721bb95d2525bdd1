"""Cluster mode (issue 18, CONTRACT §11) end to end: a real 3-member etcd (tests/e2e/etcd.py)
and three gateways. A change committed on any machine is applied everywhere within 2 s and used
by mail; group and machine overrides; conflicting commits; an invalid configuration in etcd
refused; one member killed; all of etcd down (mail flows, changes refused, a restarted gateway
runs on its last configuration) and back.

Each test uses its own key prefix, so the tests share one etcd cluster without seeing each
other's configuration."""
import getpass
import json
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time
import uuid

import pytest

from etcd import EtcdCluster
from harness import BIN, Gateway, mid_of, timing_slack, wait_finished
from peers import Sink
from tdc_fixtures import A, intake_certs

APPLY_BOUND = 2.0  # CONTRACT §11: every machine applies a commit within 2 s


@pytest.fixture(scope="module")
def etcd():
    workdir = tempfile.mkdtemp(prefix="tidegate-etcd-")
    cluster = EtcdCluster(workdir, members=3).start()
    yield cluster
    cluster.close()
    shutil.rmtree(workdir, ignore_errors=True)


class Peers:
    """The next hop for example.com and a TLS intake for the journal copies, shared by all."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="tidegate-cl-peers-")
        self.certs = intake_certs(self.workdir)
        self.next_hop = Sink().start()
        self.intake = Sink(certs=self.certs).start()

    def close(self):
        self.next_hop.stop()
        self.intake.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def peers():
    p = Peers()
    yield p
    p.close()


def shared_yaml(peers, tdc_enabled=True, domain="example.com"):
    """The shared sections a machine's local file holds (used only to bootstrap)."""
    return (f"smtp_routes:\n  {domain}: [127.0.0.1:{peers.next_hop.port}]\n"
            f"  intake.test: [127.0.0.1:{peers.intake.port}]\n"
            "delivery:\n  retry: {initial: 1s, max_interval: 2s, max_queue_time: 1h}\n"
            "threat_defense_connector:\n"
            f"  enabled: {'true' if tdc_enabled else 'false'}\n"
            f"  intake_address: {A}\n"
            "  min_connections: 1\n"
            "  retry_delay: 1s\n"
            f"  tls_ca_file: {peers.certs['ca']}\n")


POLICIES = """\
incoming_mail_policies:
  - name: DEFAULT
    threat_defense_connector: global
"""


def cluster_yaml(etcd, prefix, machine, group=None, endpoints=None):
    eps = ", ".join(endpoints or etcd.client_urls)
    return ("cluster:\n  name: Test_Cluster\n"
            f"  machine: {machine}\n" + (f"  group: {group}\n" if group else "") +
            f"  etcd: {{endpoints: [{eps}], prefix: {prefix}}}\n")


def machine(etcd, peers, prefix, name, group=None, local_domain="example.com", tdc=True):
    return Gateway(extra_yaml=cluster_yaml(etcd, prefix, name, group) +
                   shared_yaml(peers, tdc_enabled=tdc, domain=local_domain),
                   policies=POLICIES, accepted=(local_domain,), hold=False)


def cli(g, *args, check=True):
    r = subprocess.run([BIN, "-c", g.config_path, *args], capture_output=True, text=True,
                       timeout=60)
    if check:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def applied_revisions(g):
    return [int(m) for m in re.findall(r"Cluster configuration revision (\d+) applied", g.mail_log())]


def wait_applied(gateways, revision, timeout):
    """Waits until every gateway logged `revision` as applied; returns the seconds it took."""
    start = time.monotonic()
    deadline = start + timeout * timing_slack()
    pending = list(gateways)
    while pending and time.monotonic() < deadline:
        pending = [g for g in pending if revision not in applied_revisions(g)]
        if pending:
            time.sleep(0.02)
    assert not pending, "revision %d not applied on %s; logs:\n%s" % (
        revision, [g.config_path for g in pending], "\n---\n".join(g.mail_log() for g in pending))
    return time.monotonic() - start


def committed_revision(g):
    """The revision of this machine's newest applied commit."""
    return json.loads(cli(g, "clusterconfig", "show", "--json").stdout)["applied_revision"]


def tdc_enabled(g):
    return json.loads(cli(g, "tdcconfig", "show", "--json").stdout)["enabled"]


def send(g, subject, rcpt="user@example.com"):
    msg = f"Subject: {subject}\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.sendmail("alice@sender.test", [rcpt], msg)


def journaled(peers, subject):
    return any(subject.encode() in m.data for m in peers.intake.messages)


def delivered(peers, subject):
    return any(subject.encode() in m.data for m in peers.next_hop.messages)


def wait_for(pred, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def three(etcd, peers, prefix):
    """gw1 (group G, bootstraps), gw2 (group G), gw3 (no group). gw2 and gw3 have local shared
    sections that differ (another domain, TDC off): in cluster mode they must be ignored."""
    gw1 = machine(etcd, peers, prefix, "gw1", group="G").start()
    gw1.wait_log("Cluster configuration revision")
    gw2 = machine(etcd, peers, prefix, "gw2", group="G", local_domain="other.test",
                  tdc=False).start()
    gw3 = machine(etcd, peers, prefix, "gw3", local_domain="other.test", tdc=False).start()
    rev = committed_revision(gw1)
    wait_applied([gw1, gw2, gw3], rev, 10)
    return gw1, gw2, gw3


def cleanup(*gateways):
    for g in gateways:
        g.cleanup()


def test_bootstrap_then_a_change_applies_everywhere_within_2s_and_is_used_by_mail(etcd, peers):
    prefix = f"/t{uuid.uuid4().hex[:8]}/"
    gw1, gw2, gw3 = three(etcd, peers, prefix)
    try:
        assert "(cluster Test_Cluster, by gw1: bootstrap from gw1)" in gw2.mail_log()
        # gw3's own file says TDC off and other.test; the cluster says TDC on and example.com.
        assert tdc_enabled(gw3)
        send(gw3, "cl-before")
        wait_for(lambda: delivered(peers, "cl-before") and journaled(peers, "cl-before"))

        machines = json.loads(cli(gw2, "clusterconfig", "machines", "--json").stdout)["machines"]
        assert sorted(m["name"] for m in machines) == ["gw1", "gw2", "gw3"]
        assert all(m["healthy"] for m in machines), machines
        assert {m["name"]: m["group"] for m in machines}["gw2"] == "G"

        # A cluster-level change from gw2, with a comment.
        r = cli(gw2, "tdcconfig", "disable", "--comment", "maintenance window")
        done = time.monotonic()
        rev = committed_revision(gw2)
        took = wait_applied([gw1, gw2, gw3], rev, 5)
        assert time.monotonic() - done <= APPLY_BOUND * timing_slack() + 0.5, took
        for g in (gw1, gw2, gw3):
            # A CLI change is by the Unix user who ran it (CONTRACT §12).
            assert (f"Cluster configuration revision {rev} applied (cluster Test_Cluster, by "
                    f"{getpass.getuser()}: maintenance window)") in g.mail_log()
            assert not tdc_enabled(g)
        # Used by mail: a message through gw1 now has no journal copy.
        send(gw1, "cl-after")
        wait_for(lambda: delivered(peers, "cl-after"))
        mid = mid_of(gw1, "cl-after")
        log = wait_finished(gw1, [mid])
        assert f"generated based on MID {mid} " not in log
        assert not journaled(peers, "cl-after")

        # status shows the revision; status --cluster and tophosts --cluster sum all three.
        assert f"Cluster configuration: connected, running revision {rev}" in \
            cli(gw3, "status").stdout
        st = json.loads(cli(gw1, "status", "--cluster", "--json").stdout)
        assert len(st["machines"]) == 3 and all(m["answered"] for m in st["machines"])
        assert st["counters"]["messages_received"] >= 2
        top = cli(gw2, "tophosts", "--cluster", "delivered").stdout
        assert "example.com" in top, top
    finally:
        cleanup(gw3, gw2, gw1)


def test_group_and_machine_overrides_and_inherit(etcd, peers):
    prefix = f"/t{uuid.uuid4().hex[:8]}/"
    gw1, gw2, gw3 = three(etcd, peers, prefix)
    try:
        # Group G overrides the TDC section; changes from gw1 now go to the group level.
        cli(gw1, "clusterconfig", "override", "threat_defense_connector", "group", "G",
            "--comment", "G gets its own")
        cli(gw1, "clusterconfig", "mode", "group", "G")
        cli(gw1, "tdcconfig", "disable", "--comment", "G off")
        rev = committed_revision(gw1)
        wait_applied([gw1, gw2, gw3], rev, 5)
        assert f"(group G, by {getpass.getuser()}: G off)" in gw2.mail_log()
        assert not tdc_enabled(gw1) and not tdc_enabled(gw2)
        assert tdc_enabled(gw3)
        show = json.loads(cli(gw2, "clusterconfig", "show", "--json").stdout)
        origin = {s["section"]: (s["level"], s["name"]) for s in show["sections"]}
        assert origin["threat_defense_connector"] == ("group", "G")
        assert origin["smtp_routes"] == ("cluster", "")
        assert "threat_defense_connector    group G" in cli(gw2, "clusterconfig").stdout

        # A machine-level change on gw3 touches only gw3.
        cli(gw3, "clusterconfig", "mode", "machine", "gw3")
        cli(gw3, "tdcconfig", "disable")
        rev = committed_revision(gw3)
        wait_applied([gw1, gw2, gw3], rev, 5)
        assert not tdc_enabled(gw3)
        # The cluster level itself is unchanged (enabled): gw3 inherits it again.
        cli(gw3, "clusterconfig", "inherit", "threat_defense_connector", "machine", "gw3")
        rev = committed_revision(gw3)
        wait_applied([gw1, gw2, gw3], rev, 5)
        assert tdc_enabled(gw3)
        cli(gw1, "clusterconfig", "inherit", "threat_defense_connector", "group", "G")
        rev = committed_revision(gw1)
        wait_applied([gw1, gw2, gw3], rev, 5)
        assert tdc_enabled(gw1) and tdc_enabled(gw2)
        # Nothing left to inherit: a clear error.
        r = cli(gw1, "clusterconfig", "inherit", "threat_defense_connector", "group", "G",
                check=False)
        assert r.returncode == 1 and "has no override at group G" in r.stderr, r.stderr
    finally:
        cleanup(gw3, gw2, gw1)


def test_conflicting_commits_one_wins_one_clear_error(etcd, peers):
    prefix = f"/t{uuid.uuid4().hex[:8]}/"
    gw1, gw2, gw3 = three(etcd, peers, prefix)
    try:
        base = committed_revision(gw1)
        # Both read revision `base`; they commit at the same moment.
        procs = [subprocess.Popen([BIN, "-c", g.config_path, *args, "--base-revision", str(base)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for g, args in ((gw1, ["tdcconfig", "disable"]),
                                 (gw2, ["policyconfig", "tdc", "DEFAULT", "off"]))]
        results = [(p.wait(timeout=30), p.communicate()) for p in procs]
        codes = sorted(rc for rc, _ in results)
        assert codes == [0, 1], results
        loser = next(out for rc, out in results if rc == 1)
        m = re.search(r"conflict: configuration changed since revision (\d+) \(now (\d+)\)",
                      loser[1])
        assert m and int(m.group(1)) == base and int(m.group(2)) > base, loser
        now = int(m.group(2))
        wait_applied([gw1, gw2, gw3], now, 5)
        # Never a mix: exactly one of the two changes is in effect.
        policy = json.loads(cli(gw3, "policyconfig", "show", "DEFAULT", "--json").stdout)
        assert (not tdc_enabled(gw3)) != (policy["threat_defense_connector"]["mode"] == "off")
        # Without --base-revision a commit uses the newest revision seen: it goes through.
        cli(gw2, "tdcconfig", "enable", A)
    finally:
        cleanup(gw3, gw2, gw1)


def test_an_invalid_configuration_in_etcd_is_refused_and_the_previous_one_kept(etcd, peers):
    prefix = f"/t{uuid.uuid4().hex[:8]}/"
    gw1, gw2, gw3 = three(etcd, peers, prefix)
    try:
        # Through the product: refused before anything is written.
        r = cli(gw1, "policyconfig", "tdc", "DEFAULT", "custom", "not-an-address", check=False)
        assert r.returncode != 0
        # Written around the product (another tool): every machine refuses it, keeps running.
        etcd.etcdctl("put", f"{prefix}config/cluster/delivery", "{tls: sometimes}")
        for g in (gw1, gw2, gw3):
            g.wait_log("refused: ", timeout=5)
        m = re.search(r"Cluster configuration revision (\d+) refused: .*delivery\.tls",
                      gw3.mail_log())
        assert m, gw3.mail_log()
        assert tdc_enabled(gw3)
        send(gw2, "cl-refused")
        wait_for(lambda: delivered(peers, "cl-refused"))
        machines = json.loads(cli(gw1, "clusterconfig", "machines", "--json").stdout)["machines"]
        wait_for(lambda: not any(m["healthy"] for m in json.loads(
            cli(gw1, "clusterconfig", "machines", "--json").stdout)["machines"]), timeout=5)
        # A good commit on top repairs it (delivery comes from this machine's own view).
        etcd.etcdctl("del", f"{prefix}config/cluster/delivery")
        cli(gw1, "tdcconfig", "disable")
        rev = committed_revision(gw1)
        wait_applied([gw1, gw2, gw3], rev, 5)
        del machines
    finally:
        cleanup(gw3, gw2, gw1)


def history(g):
    return json.loads(cli(g, "configs", "list", "--json").stdout)


def origin(g, section):
    show = json.loads(cli(g, "clusterconfig", "show", "--json").stdout)
    return {s["section"]: (s["level"], s["name"]) for s in show["sections"]}[section]


def test_configuration_history_is_kept_in_etcd_per_level_and_rolled_back_at_its_level(
        etcd, peers):
    """CONTRACT §11 "History": every commit is one entry, numbered cluster-wide, holding its
    level's sections; every machine lists the same history; a rollback restores the snapshot's
    level, whatever the mode of the machine that asks."""
    prefix = f"/t{uuid.uuid4().hex[:8]}/"
    gw1, gw2, gw3 = three(etcd, peers, prefix)
    user = getpass.getuser()
    try:
        # 1: the bootstrap (cluster level, TDC enabled).
        h = history(gw3)
        assert [(e["number"], e["user"], e["level"], e["comment"]) for e in h] == [
            (1, "gw1", "cluster", "bootstrap from gw1")], h
        # 2: cluster level, TDC disabled (from gw2). 3: group G overrides it (copy: disabled).
        # 4: group G enables it (from gw1 in group mode).
        cli(gw2, "tdcconfig", "disable", "--comment", "cluster off")
        cli(gw1, "clusterconfig", "override", "threat_defense_connector", "group", "G")
        cli(gw1, "clusterconfig", "mode", "group", "G")
        cli(gw1, "tdcconfig", "enable", A, "--comment", "G on")
        wait_applied([gw1, gw2, gw3], committed_revision(gw1), 5)
        assert tdc_enabled(gw1) and tdc_enabled(gw2) and not tdc_enabled(gw3)
        h = history(gw2)
        assert [(e["number"], e["level"], e["comment"]) for e in h] == [
            (1, "cluster", "bootstrap from gw1"), (2, "cluster", "cluster off"),
            (3, "group G", ""), (4, "group G", "G on")], h
        assert h[1]["user"] == user and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", h[1]["time"])
        # The same history on every machine: it is kept in etcd, not per machine.
        assert history(gw1) == h == history(gw3)
        assert not os.path.exists(os.path.join(gw1.data_dir, "config-history"))
        listing = cli(gw3, "configs", "list").stdout
        assert re.search(r"^\s+4  \S+\s+\S+\s+group G\s+G on$", listing, re.M), listing

        # An entry holds its level's sections; a diff compares two entries.
        show = cli(gw3, "configs", "show", "4").stdout
        assert show.startswith("# group G level\n"), show
        assert "threat_defense_connector:" in show and "enabled: true" in show, show
        assert "smtp_routes" not in show  # the cluster level's, not group G's
        diff = cli(gw3, "configs", "diff", "3", "4").stdout
        assert re.search(r"^-\s+enabled: false$", diff, re.M) and \
            re.search(r"^\+\s+enabled: true$", diff, re.M), diff

        # Rolling back to 1 from gw1 (mode: group G) restores the cluster level, not group G's:
        # gw3 (cluster) gets TDC back; group G keeps its own override.
        cli(gw1, "configs", "rollback", "1", "--comment", "undo cluster off")
        wait_applied([gw1, gw2, gw3], committed_revision(gw1), 5)
        assert tdc_enabled(gw3) and tdc_enabled(gw2)
        assert origin(gw2, "threat_defense_connector") == ("group", "G")
        # Rolling back to 3 from gw3 (mode: cluster) restores group G: gw1 and gw2 off, gw3 on.
        cli(gw3, "configs", "rollback", "3")
        wait_applied([gw1, gw2, gw3], committed_revision(gw3), 5)
        assert not tdc_enabled(gw1) and not tdc_enabled(gw2) and tdc_enabled(gw3)
        h = history(gw1)
        assert [(e["number"], e["level"], e["comment"]) for e in h[4:]] == [
            (5, "cluster", "rollback to 1: undo cluster off"), (6, "group G", "rollback to 3")], h
        # Entry 5 holds the whole cluster level as it was at 1.
        assert cli(gw2, "configs", "show", "5").stdout == cli(gw2, "configs", "show", "1").stdout
        # Used by mail: gw3 journals, group G's machines do not.
        send(gw3, "hist-gw3")
        send(gw1, "hist-gw1")
        wait_for(lambda: delivered(peers, "hist-gw3") and journaled(peers, "hist-gw3"))
        wait_for(lambda: delivered(peers, "hist-gw1"))
        mid = mid_of(gw1, "hist-gw1")
        assert f"generated based on MID {mid} " not in wait_finished(gw1, [mid])
        assert not journaled(peers, "hist-gw1")

        # Clear errors: an entry that is not kept.
        r = cli(gw2, "configs", "rollback", "99", check=False)
        assert r.returncode == 1 and "no configuration history entry 99" in r.stderr, r.stderr
        r = cli(gw2, "configs", "show", "99", check=False)
        assert r.returncode == 1 and "no configuration history entry 99" in r.stderr, r.stderr
    finally:
        cleanup(gw3, gw2, gw1)


def test_etcd_member_loss_and_outage(etcd, peers):
    prefix = f"/t{uuid.uuid4().hex[:8]}/"
    gw1, gw2, gw3 = three(etcd, peers, prefix)
    try:
        # One member (the first endpoint of every gateway) killed: commits still work.
        etcd.kill(0)
        cli(gw1, "tdcconfig", "disable", "--comment", "one member down")
        rev = committed_revision(gw1)
        wait_applied([gw1, gw2, gw3], rev, 5)

        # All of etcd down: mail flows, changes refused within 10 s, status says so.
        etcd.kill(1)
        etcd.kill(2)
        t0 = time.monotonic()
        r = cli(gw2, "tdcconfig", "enable", A, check=False)
        assert time.monotonic() - t0 < 10, "the refusal took too long"
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "error: cluster configuration store unreachable" in r.stderr, r.stderr
        # The history is in etcd too: unavailable, with the same clear error.
        r = cli(gw2, "configs", "list", check=False)
        assert r.returncode == 1 and "cluster configuration store unreachable" in r.stderr, \
            r.stderr
        for g in (gw1, gw2, gw3):
            # The state first: a gateway whose first endpoint was the member killed above has
            # logged a disconnection (and its reconnection) already, so the line alone does not
            # say it has noticed the outage (CI's ASan run read gw3's status too early).
            wait_for(lambda g=g: json.loads(cli(g, "status", "--json").stdout)["cluster"]
                     ["connected"] is False, timeout=20)
            g.wait_log("Cluster configuration store disconnected: ", timeout=1)
        st = cli(gw3, "status").stdout
        assert re.search(r"Cluster configuration: disconnected \(since .+\), running revision "
                         f"{rev}", st), st
        assert json.loads(cli(gw3, "status", "--json").stdout)["cluster"]["connected"] is False
        send(gw3, "cl-outage")
        wait_for(lambda: delivered(peers, "cl-outage"))
        # A restart while etcd is down runs on the last applied configuration (TDC disabled,
        # although gw2's own file says enabled... and its domain other.test).
        gw2.stop()
        gw2.start()
        gw2.wait_log(f"running on revision {rev}, the last one applied here")
        assert not tdc_enabled(gw2)
        send(gw2, "cl-restarted")  # example.com comes from the cluster configuration
        wait_for(lambda: delivered(peers, "cl-restarted"))

        # etcd back: reconnected, and the next commit applies everywhere.
        etcd.start(0, 1, 2)
        for g in (gw1, gw2, gw3):
            g.wait_log("Cluster configuration store reconnected", timeout=20)
        cli(gw3, "tdcconfig", "enable", A, "--comment", "back")
        rev = committed_revision(gw3)
        wait_applied([gw1, gw2, gw3], rev, 5)
        assert tdc_enabled(gw1)
    finally:
        down = [i for i, m in enumerate(etcd.members) if not m.running()]
        if down:
            etcd.start(*down)
        cleanup(gw3, gw2, gw1)


def test_etcd_over_tls_with_a_user_and_password(tmp_path, peers):
    """etcd.tls and etcd.username/password_file (CONTRACT §11): two gateways on an https etcd
    with authentication enabled; the password never reaches a log."""
    from etcd import make_test_ca
    tls = make_test_ca(str(tmp_path / "ca"))
    with EtcdCluster(str(tmp_path), members=1, tls=tls) as secure:
        secure.etcdctl("user", "add", "root:s3cret-etcd-pw", "--interactive=false")
        secure.etcdctl("auth", "enable")
        gws = []
        try:
            for name in ("gw1", "gw2"):
                g = Gateway(extra_yaml="cluster:\n  name: Secure\n"
                                       f"  machine: {name}\n"
                                       f"  etcd: {{endpoints: [{secure.client_urls[0]}],"
                                       f" prefix: /secure/, tls: {{ca_file: {tls.ca}}},"
                                       " username: root, password_file: etcd.password}\n" +
                                       shared_yaml(peers),
                            policies=POLICIES, accepted=("example.com",), hold=False)
                with open(os.path.join(g.workdir, "etcd.password"), "w") as f:
                    f.write("s3cret-etcd-pw\n")
                gws.append(g.start())
                g.wait_log("Cluster configuration revision", timeout=10)
            cli(gws[1], "tdcconfig", "disable", "--comment", "over tls")
            rev = committed_revision(gws[1])
            wait_applied(gws, rev, 5)
            assert not tdc_enabled(gws[0])
            machines = json.loads(cli(gws[0], "clusterconfig", "machines", "--json").stdout)
            assert sorted(m["name"] for m in machines["machines"]) == ["gw1", "gw2"]
            for g in gws:
                assert "s3cret-etcd-pw" not in g.mail_log()
                with open(os.path.join(g.workdir, "stderr.log"), errors="replace") as f:
                    assert "s3cret-etcd-pw" not in f.read()
        finally:
            cleanup(*gws)


def test_check_config_warns_about_shared_sections_in_cluster_mode(tmp_path):
    g = Gateway(workdir=str(tmp_path), extra_yaml="cluster:\n  name: C\n  machine: gw9\n"
                "  etcd: {endpoints: [http://127.0.0.1:1]}\n", policies=POLICIES)
    r = subprocess.run([BIN, "-c", g.config_path, "check-config"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{g.config_path}: ok\n"
    for section in ("accepted_domains", "admin", "incoming_mail_policies", "smtp_routes"):
        assert (f"{g.config_path}: warning: {section} is a shared section: in cluster mode it "
                "comes from etcd") in r.stderr, r.stderr
    # A single machine: no warning.
    os.makedirs(tmp_path / "single")
    single = Gateway(workdir=str(tmp_path / "single"), policies=POLICIES)
    r = subprocess.run([BIN, "-c", single.config_path, "check-config"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
