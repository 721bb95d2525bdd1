"""`make run-cluster` (issue 18, CONTRACT §11): scripts/run-cluster.py comes up from the work tree
with a 3-member etcd, PostgreSQL, three gateways and an intake; a message sent to gw2 with the
printed swaks line is delivered to the mailbox; `clusterconfig machines` on gw1 lists three
healthy machines; a change committed on gw1 is applied on gw3; examples/cluster/*.yaml pass
`check-config`; SIGINT (Ctrl-C) stops every process it started (pids.json) and frees every port.
Run twice in the same folder, the second run starts fresh (a new cluster, revision from scratch).

The demo runs on free ports (TIDEGATE_CLUSTER_PORTS=free) in a temporary folder, so it never
collides with a `make run-cluster` and never writes into the work tree's run/."""
import getpass
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from harness import BIN, interrupt, tcp_open

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "run-cluster.py")
MACHINES = ("gw1", "gw2", "gw3")


@pytest.fixture
def workdir():
    # PostgreSQL runs as the postgres user: the folder must be searchable by others
    # (pytest's tmp_path is not).
    d = tempfile.mkdtemp(prefix="tidegate-run-cluster-")
    os.chmod(d, 0o711)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def cli(conf, *args):
    r = subprocess.run([BIN, "-c", conf, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


class Run:
    """One run of the script, up to its "is running" banner."""

    def __init__(self, workdir, name):
        self.run = os.path.join(workdir, "run")
        self.out_path = os.path.join(workdir, f"{name}.out")
        env = dict(os.environ, TIDEGATE_BIN=BIN, TIDEGATE_CLUSTER_PORTS="free",
                   TIDEGATE_CLUSTER_RUN_DIR=self.run)
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen([SCRIPT], cwd=ROOT, env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while "cluster demo is running" not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.time() < deadline, self.text()
            time.sleep(0.2)
        self.conf = {m: os.path.join(self.run, "conf", f"{m}.yaml") for m in MACHINES}
        with open(os.path.join(self.run, "pids.json")) as f:
            self.pids = json.load(f)
        self.ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", self.text())]

    def text(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stop(self):
        try:
            interrupt(self.proc)
        finally:
            self.out.close()
        assert self.proc.returncode == 0, self.text()
        assert "Stopped." in self.text()
        left = {name: pid for name, pid in self.pids.items() if alive(pid)}
        assert not left, f"left running: {left}"
        assert [p for p in self.ports if tcp_open(p)] == []


def mail_logs(run):
    return {m: open(os.path.join(run.run, m, "mail_logs", "mail.current")).read()
            for m in MACHINES}


def test_make_run_cluster_end_to_end(workdir):
    work_tree_run = os.path.join(ROOT, "run", "cluster")
    before = sorted(os.listdir(work_tree_run)) if os.path.isdir(work_tree_run) else None
    first = Run(workdir, "first")
    try:
        printed = first.text()
        assert len(first.pids) == 10, first.pids  # 3 etcd, PostgreSQL, dnsmasq, mailbox,
        # intake, 3 gateways
        for m in MACHINES:
            assert f"config {first.conf[m]}" in printed, printed
        assert re.search(r"PostgreSQL +host=127\.0\.0\.1 port=\d+ dbname=tidegate user=tidegate",
                         printed), printed

        # The examples themselves pass check-config against this run's files: a copy of
        # examples/cluster/ beside a run/cluster/ that is this run's folder.
        tree = os.path.join(workdir, "tree")
        shutil.copytree(os.path.join(ROOT, "examples", "cluster"),
                        os.path.join(tree, "examples", "cluster"))
        os.makedirs(os.path.join(tree, "run"))
        os.symlink(first.run, os.path.join(tree, "run", "cluster"))
        for m in MACHINES:
            r = subprocess.run([BIN, "-c", os.path.join(tree, "examples", "cluster", f"{m}.yaml"),
                                "check-config"], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, (m, r.stdout, r.stderr)

        # Mail through gw2, with the printed swaks line.
        swaks = next(line.strip() for line in printed.splitlines()
                     if line.strip().startswith("swaks "))
        mailbox = os.path.join(first.run, "mailbox", "new")
        sent = subprocess.run(shlex.split(swaks) + ["--header", "Subject: run-cluster-gw2"],
                              capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "STARTTLS" in sent.stdout
        deadline = time.time() + 60
        delivered = []
        while not delivered and time.time() < deadline:
            if os.path.isdir(mailbox):
                delivered = [f for f in os.listdir(mailbox)
                             if b"run-cluster-gw2" in open(os.path.join(mailbox, f), "rb").read()]
            time.sleep(0.2)
        assert delivered, sent.stdout

        machines = json.loads(cli(first.conf["gw1"], "clusterconfig", "machines",
                                  "--json"))["machines"]
        assert sorted(m["name"] for m in machines) == list(MACHINES), machines
        assert all(m["healthy"] for m in machines), machines
        assert {m["name"]: m["group"] for m in machines}["gw2"] == "Main_Group"

        # The README's tracking search: gw1 finds the message gw2 received (PostgreSQL).
        deadline = time.time() + 20
        found = ""
        while "Machine gw2 MID" not in found and time.time() < deadline:
            r = subprocess.run([BIN, "-c", first.conf["gw1"], "track", "--recipient",
                                "bob@example.com"], capture_output=True, text=True, timeout=60)
            found = r.stdout
            time.sleep(0.2)
        assert "Machine gw2 MID" in found, found

        # The README's change: on gw1, seen on gw3.
        cli(first.conf["gw1"], "tdcconfig", "disable", "--comment", "maintenance")
        rev = json.loads(cli(first.conf["gw1"], "clusterconfig", "show",
                             "--json"))["applied_revision"]
        line = (f"Cluster configuration revision {rev} applied (cluster Hosted_Cluster, "
                f"by {getpass.getuser()}: maintenance)")  # a CLI change: the Unix user (§12)
        deadline = time.time() + 10
        while line not in mail_logs(first)["gw3"] and time.time() < deadline:
            time.sleep(0.1)
        assert line in mail_logs(first)["gw3"]
        assert f"running revision {rev}" in cli(first.conf["gw3"], "clusterconfig", "show")
    finally:
        first.stop()

    # Again in the same folder: a fresh cluster (the change above is gone).
    second = Run(workdir, "second")
    try:
        # The demo waits for each gateway's "revision N loaded from etcd" at start; its agent
        # logs "applied (...)" a moment later, on its first pass over the store (CI's ASan run
        # once read the log before that).
        bootstrap = "(cluster Hosted_Cluster, by gw1: bootstrap from gw1)"
        deadline = time.time() + 10
        while bootstrap not in mail_logs(second)["gw3"] and time.time() < deadline:
            time.sleep(0.1)
        logs = mail_logs(second)
        assert f"by {getpass.getuser()}: maintenance" not in logs["gw3"]
        assert bootstrap in logs["gw3"], logs["gw3"]
        assert json.loads(cli(second.conf["gw3"], "tdcconfig", "show", "--json"))["enabled"]
    finally:
        second.stop()
    after = sorted(os.listdir(work_tree_run)) if os.path.isdir(work_tree_run) else None
    assert after == before, "the demo wrote into the work tree's run/cluster/"


def test_busy_default_port_fails_clearly(workdir):
    """With the default ports, a busy one is named and nothing is started."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 3526))  # gw2's SMTP port in examples/cluster/gw2.yaml
        except OSError:
            pytest.skip("127.0.0.1:3526 is in use by something else")
        s.listen()
        env = dict(os.environ, TIDEGATE_BIN=BIN,
                   TIDEGATE_CLUSTER_RUN_DIR=os.path.join(workdir, "run"))
        env.pop("TIDEGATE_CLUSTER_PORTS", None)
        r = subprocess.run([SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "gw2_smtp 3526" in r.stderr and "TIDEGATE_CLUSTER_PORTS=free" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(workdir, "run"))
