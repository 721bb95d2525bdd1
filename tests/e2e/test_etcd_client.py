"""test_etcd_client.py — cluster::EtcdClient (CONTRACT §11, issue 18) against a real etcd 3.4
(tests/e2e/etcd.py), driven through tidegate_etcd_probe (one client for the probe's whole life,
JSON commands on stdin, JSON results on stdout).

Guards: put / range / prefix range; a txn guarded by mod_revision succeeds, then fails after a
concurrent change made by etcdctl; lease grant + keepalive, and the key gone after its TTL when
not kept alive; a watch sees a put and a delete made by etcdctl, reports a compacted start
revision, ends with "stopped" on Stop(), and ends within seconds when its member is killed;
failover with 3 members and the first endpoint's member killed; all members down → errors
within request_timeout per endpoint, naming each; auth (user/password works, a wrong password is
a clear error, a token lost in a member restart is renewed); https with a CA made by openssl.
"""
import json
import os
import selectors
import subprocess
import time

import pytest

from etcd import EtcdCluster, make_test_ca
from harness import timing_slack
from peers import Blackhole

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROBE = os.environ.get("TIDEGATE_ETCD_PROBE") or os.path.join(
    REPO, "build", "src", "cluster", "tidegate_etcd_probe")


class Probe:
    """tidegate_etcd_probe as a child: send() writes one command, line() reads one result."""

    def __init__(self, endpoints, timeout_ms=1000, idle_timeout_ms=None, extra=()):
        argv = [PROBE, "--timeout-ms", str(timeout_ms)]
        for url in endpoints:
            argv += ["--endpoint", url]
        if idle_timeout_ms:
            argv += ["--idle-timeout-ms", str(idle_timeout_ms)]
        argv += list(extra)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buffer = b""

    def line(self, wait=30.0):
        deadline = time.monotonic() + wait
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, "tidegate_etcd_probe did not answer in time"
            with selectors.DefaultSelector() as sel:
                sel.register(self.proc.stdout, selectors.EVENT_READ)
                if not sel.select(left):
                    continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            assert chunk, f"tidegate_etcd_probe exited: {self.proc.stderr.read().decode()}"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def send(self, **command):
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    def call(self, wait=30.0, **command):
        self.send(**command)
        return self.line(wait)

    def ok(self, **command):
        result = self.call(**command)
        assert result["ok"], result
        return result

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def one(tmp_path):
    with EtcdCluster(str(tmp_path), members=1) as cluster:
        yield cluster


@pytest.fixture
def three(tmp_path):
    with EtcdCluster(str(tmp_path), members=3) as cluster:
        yield cluster


@pytest.fixture
def probes():
    made = []

    def make(*args, **kwargs):
        made.append(Probe(*args, **kwargs))
        return made[-1]
    yield make
    for p in made:
        p.close()


def kv(result):
    return {k["key"]: k["value"] for k in result["kvs"]}


def test_put_range_prefix(one, probes):
    p = probes(one.client_urls)
    r1 = p.ok(op="put", key="/cfg/a", value="alpha")["revision"]
    r2 = p.ok(op="put", key="/cfg/b", value="beta\nwith newline \u00e9")["revision"]
    p.ok(op="put", key="/cfh", value="outside the prefix")
    assert r2 == r1 + 1
    assert kv(p.ok(op="range", key="/cfg/a")) == {"/cfg/a": "alpha"}
    prefix = p.ok(op="range", key="/cfg/", prefix=True)
    assert kv(prefix) == {"/cfg/a": "alpha", "/cfg/b": "beta\nwith newline \u00e9"}
    assert prefix["revision"] == r2 + 1
    assert p.ok(op="range", key="/nothing")["kvs"] == []
    # An older revision reads the past; a future one is etcd's error, returned as such.
    p.ok(op="put", key="/cfg/a", value="changed")
    assert kv(p.ok(op="range", key="/cfg/a", revision=r1)) == {"/cfg/a": "alpha"}
    future = p.call(op="range", key="/cfg/a", revision=10**6)
    assert not future["ok"] and "future revision" in future["error"], future
    assert one.client_urls[0] in future["error"]
    # etcdctl (a peer nobody here wrote) reads what the client wrote.
    assert one.etcdctl("get", "/cfg/a", "--print-value-only").strip() == "changed"


def test_txn_guarded_by_mod_revision(one, probes):
    p = probes(one.client_urls)
    base = p.ok(op="put", key="/cfg/policy", value="v1")["revision"]
    guard = [{"key": "/cfg/policy", "target": "mod", "result": "equal", "number": base}]
    first = p.ok(op="txn", compare=guard,
                 success=[{"kind": "put", "key": "/cfg/policy", "value": "v2"},
                          {"kind": "put", "key": "/cfg/history/1", "value": "v1"},
                          {"kind": "range", "key": "/cfg/policy"}],
                 failure=[{"kind": "range", "key": "/cfg/policy"}])
    assert first["succeeded"] is True
    assert first["revision"] == base + 1
    assert kv(first["ranges"][0]) == {"/cfg/policy": "v2"}
    # A concurrent change by another writer...
    one.etcdctl("put", "/cfg/policy", "theirs")
    now = p.ok(op="range", key="/cfg/policy")["kvs"][0]["mod_revision"]
    # ...makes the same guard (now stale) fail: nothing written, the failure branch ran.
    guard = [{"key": "/cfg/policy", "target": "mod", "result": "equal", "number": base + 1}]
    second = p.ok(op="txn", compare=guard,
                  success=[{"kind": "put", "key": "/cfg/policy", "value": "mine"}],
                  failure=[{"kind": "range", "key": "/cfg/policy"},
                           {"kind": "delete", "key": "/cfg/history/1"}])
    assert second["succeeded"] is False
    assert kv(second["ranges"][0]) == {"/cfg/policy": "theirs"}
    assert second["ranges"][0]["kvs"][0]["mod_revision"] == now
    assert p.ok(op="range", key="/cfg/history/1")["kvs"] == []
    # Bootstrap's guard: create only when absent (create_revision == 0).
    absent = [{"key": "/cfg/new", "target": "create", "result": "equal", "number": 0}]
    put_new = [{"kind": "put", "key": "/cfg/new", "value": "x"}]
    assert p.ok(op="txn", compare=absent, success=put_new)["succeeded"] is True
    assert p.ok(op="txn", compare=absent, success=put_new)["succeeded"] is False


def test_lease_keepalive_and_expiry(one, probes):
    p = probes(one.client_urls)
    lease = p.ok(op="grant", ttl=2)["lease"]
    p.ok(op="put", key="/machines/gw1", value="up", lease=lease)
    assert p.ok(op="range", key="/machines/gw1")["kvs"][0]["lease"] == lease
    # Kept alive past its TTL: still there.
    until = time.monotonic() + 3.5
    while time.monotonic() < until:
        ttl = p.ok(op="keepalive", lease=lease)["ttl"]
        assert 1 <= ttl <= 2
        time.sleep(0.5)
    assert kv(p.ok(op="range", key="/machines/gw1")) == {"/machines/gw1": "up"}
    # Not kept alive: gone after the TTL (etcd checks expiry about every 500 ms).
    stopped = time.monotonic()
    while p.ok(op="range", key="/machines/gw1")["kvs"]:
        assert time.monotonic() - stopped < 2 + 3 * timing_slack(), "leased key outlived its TTL"
        time.sleep(0.1)
    assert time.monotonic() - stopped >= 1.0
    assert p.ok(op="keepalive", lease=lease)["ttl"] == 0
    # A put on the lost lease is etcd's error.
    lost = p.call(op="put", key="/machines/gw1", value="up", lease=lease)
    assert not lost["ok"] and "lease not found" in lost["error"], lost


def test_watch_sees_etcdctl_put_and_delete(one, probes):
    p = probes(one.client_urls)
    start = p.ok(op="put", key="/cfg/x", value="before")["revision"] + 1
    p.send(op="watch", key="/cfg/", prefix=True, start_revision=start)
    one.etcdctl("put", "/cfg/x", "after")
    one.etcdctl("put", "/other", "not watched")
    one.etcdctl("del", "/cfg/x")
    events = []
    while len(events) < 2:
        line = p.line(wait=10)
        assert "batch" in line, line
        events += line["batch"]["events"]
    assert [(e["type"], e["key"], e["value"]) for e in events] == [
        ("put", "/cfg/x", "after"), ("delete", "/cfg/x", "")]
    assert events[1]["mod_revision"] == events[0]["mod_revision"] + 2


def test_watch_compacted_and_stopped(one, probes):
    p = probes(one.client_urls)
    for i in range(3):
        last = p.ok(op="put", key="/cfg/k", value=str(i))["revision"]
    one.etcdctl("compact", str(last))
    r = p.call(op="watch", key="/cfg/", prefix=True, start_revision=1, wait=10)
    assert not r["ok"] and r["error"] == f"compacted: oldest revision {last}", r
    # Stop() ends a quiet watch with "stopped" at once; the client then refuses requests.
    r = p.call(op="watch", key="/cfg/", prefix=True, stop_after_ms=500, wait=10)
    assert r == {"ok": False, "error": "stopped", "ms": r["ms"]} and 450 <= r["ms"] < 1500, r
    assert p.call(op="range", key="/cfg/k")["error"] == "stopped"


def test_watch_survives_quiet_periods_with_progress_notifications(one, probes):
    # idle_timeout 3 s against the fixture's 2 s progress interval: a quiet but healthy
    # stream is not failed; an event after 5 s of quiet still arrives.
    p = probes(one.client_urls, idle_timeout_ms=3000)
    start = p.ok(op="put", key="/q/a", value="0")["revision"] + 1
    p.send(op="watch", key="/q/", prefix=True, start_revision=start)
    time.sleep(5)
    one.etcdctl("put", "/q/a", "1")
    line = p.line(wait=10)
    assert "batch" in line, line


def test_watch_silent_longer_than_idle_timeout_fails(one, probes):
    # idle_timeout 1 s, below the fixture's 2 s progress interval: the created stream's silence
    # counts as a failure (a hung member looks like this), named, and soon.
    p = probes(one.client_urls, idle_timeout_ms=1000)
    r = p.call(op="watch", key="/q/", prefix=True, wait=10)
    assert not r["ok"] and r["error"] == f"etcd {one.client_urls[0]}: watch: no message for 1000 ms", r
    assert 1000 <= r["ms"] < 1000 + 1000 * timing_slack(), r


def test_watch_on_a_silent_peer_times_out(tmp_path, probes):
    # A peer that accepts and never answers: the watch fails within request_timeout, naming it.
    with Blackhole() as hole:
        p = probes([f"http://127.0.0.1:{hole.port}"], timeout_ms=800)
        r = p.call(op="watch", key="/w/", prefix=True, wait=10)
    assert not r["ok"] and "timed out after 800 ms" in r["error"], r
    assert r["ms"] < 800 + 700 * timing_slack()


def test_failover_and_killed_watch_member(three, probes):
    p = probes(three.client_urls, timeout_ms=1000)
    p.ok(op="put", key="/f/1", value="a")
    # A watch on the first endpoint's member ends soon after that member is killed.
    start = p.ok(op="range", key="/f/1")["revision"] + 1
    p.send(op="watch", key="/f/", prefix=True, start_revision=start)
    time.sleep(0.5)
    killed = time.monotonic()
    three.kill(0)
    r = p.line(wait=10)
    assert not r["ok"] and three.client_urls[0] in r["error"], r
    assert time.monotonic() - killed < 3 * timing_slack()
    # Requests still succeed, on the members left.
    began = time.monotonic()
    p.ok(op="put", key="/f/2", value="b")
    assert kv(p.ok(op="range", key="/f/", prefix=True)) == {"/f/1": "a", "/f/2": "b"}
    assert time.monotonic() - began < 3 * timing_slack()
    # The member comes back and catches up.
    three.start(0)
    q = probes([three.client_urls[0]])
    assert kv(q.ok(op="range", key="/f/", prefix=True)) == {"/f/1": "a", "/f/2": "b"}


def test_all_members_down(three, probes):
    three.kill(0)
    three.kill(1)
    three.kill(2)
    with Blackhole() as hole:
        # Three dead ports (refused at once) and one silent peer (request_timeout).
        urls = three.client_urls + [f"http://127.0.0.1:{hole.port}"]
        p = probes(urls, timeout_ms=700)
        r = p.call(op="range", key="/x", wait=15)
    assert not r["ok"], r
    for url in three.client_urls:
        assert f"{url}: connection refused" in r["error"], r
    assert f"http://127.0.0.1:{hole.port}: timed out after 700 ms" in r["error"], r
    assert "\n" not in r["error"]
    assert 650 <= r["ms"] < 700 + 800 * timing_slack(), r


def test_auth(one, probes):
    one.etcdctl("user", "add", "root:rootpw", "--interactive=false")
    one.etcdctl("auth", "enable")
    p = probes(one.client_urls, extra=["--user", "root", "--password", "rootpw"])
    p.ok(op="put", key="/secure", value="yes")
    assert kv(p.ok(op="range", key="/secure")) == {"/secure": "yes"}
    assert one.etcdctl("get", "/secure", "--print-value-only", user="root:rootpw").strip() == "yes"
    # A restart loses the member's tokens: the client authenticates again by itself.
    one.kill(0)
    one.start(0)
    assert kv(p.ok(op="range", key="/secure")) == {"/secure": "yes"}
    # A wrong password is a clear error, with no password in it.
    bad = probes(one.client_urls, extra=["--user", "root", "--password", "wrong-secret"])
    r = bad.call(op="range", key="/secure")
    assert not r["ok"] and "authentication failed" in r["error"], r
    assert "wrong-secret" not in r["error"]
    # No credentials at all: etcd's refusal, as an error.
    anonymous = probes(one.client_urls)
    r = anonymous.call(op="range", key="/secure")
    assert not r["ok"] and "user name is empty" in r["error"], r


def test_https_with_a_test_ca(tmp_path, probes):
    tls = make_test_ca(str(tmp_path / "ca"))
    with EtcdCluster(str(tmp_path), members=1, tls=tls) as cluster:
        assert cluster.client_urls[0].startswith("https://")
        p = probes(cluster.client_urls, extra=["--ca-file", tls.ca])
        p.ok(op="put", key="/tls", value="over https")
        assert kv(p.ok(op="range", key="/tls")) == {"/tls": "over https"}
        start = p.ok(op="range", key="/tls")["revision"] + 1
        p.send(op="watch", key="/tls", start_revision=start)
        cluster.etcdctl("put", "/tls", "watched over https")
        line = p.line(wait=10)
        assert line["batch"]["events"][0]["value"] == "watched over https", line
        # Not trusting the test CA (the system store): refused, and the reason says TLS.
        untrusting = probes(cluster.client_urls)
        r = untrusting.call(op="range", key="/tls")
        assert not r["ok"] and "TLS" in r["error"] and "verify failed" in r["error"], r
        # Plain http to the https port is no answer either.
        plain = probes([cluster.client_urls[0].replace("https://", "http://")])
        assert not plain.call(op="range", key="/tls")["ok"]
