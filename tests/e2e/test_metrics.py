"""Prometheus metrics (CONTRACT §12, issue 19): a real Prometheus (Debian's `prometheus`) scrapes
the gateway's open `metrics.bind` listener and `/metrics` on admin.bind (HTTP Basic); mail goes
through the gateway with smtplib to fake next hops and a fake TLS intake, and the values read back
through Prometheus's HTTP API must equal what the fake peers counted. Also: /metrics on admin.bind
is 401 without credentials (no redirect), and a journal copy's delay is measured from its
original's 250 even when a restart comes in between."""
import collections
import json
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from harness import free_port, wait_port
from peers import Sink
from tdc_fixtures import intake_certs, tdc_gateway

PROMETHEUS = shutil.which("prometheus")
PASSWORD = "test-password"  # harness.Gateway's admin password


def send(g, rcpts, subject):
    msg = (f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@sender.test>\r\n"
           "\r\nbody\r\n").encode()
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.sendmail("alice@sender.test", rcpts, msg)


def http_get(url, auth=None):
    req = urllib.request.Request(url)
    if auth:
        import base64
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


class Prometheus:
    """A private Prometheus server: own config and TSDB in a temp folder, loopback port, stopped
    by its PID."""

    def __init__(self, workdir, jobs):
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(self.dir)
        self.port = free_port()
        lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "scrape_configs:"]
        for name, target, auth in jobs:
            lines += [f"  - job_name: {name}", f"    static_configs: [{{targets: ['{target}']}}]"]
            if auth:
                lines += [f"    basic_auth: {{username: {auth[0]}, password: {auth[1]}}}"]
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=self.log)
        wait_port(self.port, timeout=30, proc=self.proc)

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        status, _, body = http_get(url)
        assert status == 200, (status, body)
        j = json.loads(body)
        assert j["status"] == "success", j
        return j["data"]

    def query(self, promql):
        """{labels tuple (sorted, without __name__): value} of an instant query."""
        out = {}
        for r in self.api("query", query=promql)["result"]:
            labels = tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__"))
            out[labels] = float(r["value"][1])
        return out

    def wait_value(self, promql, expected, timeout=30.0):
        """Polls until the query answers exactly `expected` ({labels: value}); returns it."""
        deadline = time.time() + timeout
        got = None
        while time.time() < deadline:
            got = self.query(promql)
            if got == expected:
                return got
            time.sleep(0.5)
        raise AssertionError(f"{promql}: got {got}, expected {expected}")

    def wait_targets_up(self, n, timeout=30.0):
        deadline = time.time() + timeout
        targets = None
        while time.time() < deadline:
            targets = self.api("targets")["activeTargets"]
            if len(targets) == n and all(t["health"] == "up" for t in targets):
                return targets
            time.sleep(0.5)
        raise AssertionError(f"targets not all up: {targets}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def one(value):
    return {(): float(value)}


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (make deps)")
def test_prometheus_scrapes_what_the_peers_counted():
    workdir = tempfile.mkdtemp(prefix="tidegate-metrics-")
    certs = intake_certs(workdir)
    metrics_port = free_port()

    # The intake answers by subject: "refuse" → 554 (failed at once), "later" → 451 twice
    # (retried once, then removed), anything else → 250.
    def intake_data(envelope):
        body = envelope.original_content or b""
        if b"Subject: refuse" in body:
            return "554 5.7.1 Refused by the intake"
        if b"Subject: later" in body:
            return "451 4.3.0 Try again later"
        return None

    with Sink() as next_hop, Sink() as dsn, \
            Sink(certs=certs, require_tls=True, data_reply=intake_data) as intake:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"],
                        retry_delay="1s",
                        extra=f"metrics:\n  bind: 127.0.0.1:{metrics_port}\n").start()
        prom = None
        try:
            wait_port(metrics_port, timeout=10)
            prom = Prometheus(workdir, [
                ("open", f"127.0.0.1:{metrics_port}", None),
                ("admin", f"127.0.0.1:{g.admin_port}", ("admin", PASSWORD)),
            ])
            started = time.time()
            # DEFAULT journals to A; Sales to B; Legal not at all (a split: one message received).
            send(g, ["joe@example.com"], "first")
            send(g, ["ann@sales.example.com", "bob@legal.example.com"], "split")
            send(g, ["carl@example.com", "dora@example.com"], "two recipients")
            send(g, ["erin@example.com"], "refuse")
            send(g, ["fred@example.com"], "later")
            next_hop.wait_messages(5)
            intake.wait_messages(3)  # first, split (Sales part), two recipients
            g.wait_log("removed from the.tdc.queue", timeout=30)
            g.wait_log("Hard bounced", timeout=30)
            elapsed = time.time() - started

            # What the fake peers counted.
            per_domain = collections.Counter(
                r.split("@")[1] for m in next_hop.messages for r in m.rcpt_tos)
            assert sum(per_domain.values()) == 7, per_domain
            delivered = {(("job", "open"), ("queue", d)): float(n) for d, n in per_domain.items()}
            delivered[(("job", "open"), ("queue", "the.tdc.queue"))] = float(len(intake.messages))
            assert len(intake.messages) == 3

            prom.wait_targets_up(2)
            prom.wait_value('tidegate_messages_received_total{job="open"}',
                            {(("instance", f"127.0.0.1:{metrics_port}"), ("job", "open")): 5.0})
            prom.wait_value('sum by (job, queue) (tidegate_recipients_delivered_total{job="open"})',
                            delivered)
            prom.wait_value('sum by (result) (tidegate_journal_copies_total{job="open"})',
                            {(("result", "delivered"),): 3.0, (("result", "failed"),): 1.0,
                             (("result", "removed"),): 1.0})
            prom.wait_value('sum(tidegate_journal_delay_seconds_count{job="open"})', one(3))
            prom.wait_value('sum(tidegate_journal_delay_seconds_bucket{job="open",le="+Inf"})',
                            one(3))
            delay_sum = prom.query('sum(tidegate_journal_delay_seconds_sum{job="open"})')[()]
            assert 0 < delay_sum < 3 * elapsed, (delay_sum, elapsed)
            # The tophosts figures: the.tdc.queue's hard bounces are the copies that ended unsent,
            # its soft bounces the one retry; nothing is queued any more.
            prom.wait_value('tidegate_recipients_bounced_total{job="open",queue="the.tdc.queue"}',
                            {(("instance", f"127.0.0.1:{metrics_port}"), ("job", "open"),
                              ("kind", "hard"), ("queue", "the.tdc.queue")): 2.0,
                             (("instance", f"127.0.0.1:{metrics_port}"), ("job", "open"),
                              ("kind", "soft"), ("queue", "the.tdc.queue")): 1.0})
            prom.wait_value('sum(tidegate_queue_active_recipients{job="open"})', one(0))
            # The same figures behind the admin login (Prometheus's basic_auth).
            prom.wait_value('tidegate_messages_received_total{job="admin"}',
                            {(("instance", f"127.0.0.1:{g.admin_port}"), ("job", "admin")): 5.0})
            prom.wait_value('sum(tidegate_journal_copies_total{job="admin",result="delivered"})',
                            one(3))
            assert prom.query('sum(tidegate_spool_bytes{job="open"})')[()] > 0
            # No engines configured: the families exist, with zeros.
            assert prom.query('sum(tidegate_scan_seconds_count{job="open"})') == one(0)
            assert prom.query('sum(tidegate_spam_verdicts_total{job="open"})') == one(0)
        finally:
            if prom:
                prom.stop()
            g.cleanup()


def test_admin_metrics_needs_basic_auth_and_never_redirects():
    workdir = tempfile.mkdtemp(prefix="tidegate-metrics-")
    certs = intake_certs(workdir)
    metrics_port = free_port()
    with Sink() as next_hop, Sink() as dsn, Sink(certs=certs) as intake:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"],
                        extra=f"metrics:\n  bind: 127.0.0.1:{metrics_port}\n").start()
        try:
            wait_port(g.admin_port, timeout=10)
            status, headers, body = http_get(f"http://127.0.0.1:{g.admin_port}/metrics")
            assert status == 401, (status, body)
            assert headers.get("WWW-Authenticate", "").startswith("Basic"), headers
            assert "Location" not in headers
            assert "tidegate_" not in body
            status, headers, body = http_get(f"http://127.0.0.1:{g.admin_port}/metrics",
                                             auth=("admin", PASSWORD))
            assert status == 200, (status, body)
            assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
            assert "# TYPE tidegate_messages_received_total counter" in body
            # The open listener: no login, any Host name, and nothing but /metrics.
            status, _, open_body = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert status == 200
            assert "# TYPE tidegate_journal_delay_seconds histogram" in open_body
            assert 'tidegate_journal_delay_seconds_bucket{le="+Inf"} 0' in open_body
            check_dashboard(open_body)
            status, _, _ = http_get(f"http://127.0.0.1:{metrics_port}/api/v1/status")
            assert status in (401, 404), status
            status, _, _ = http_get(f"http://127.0.0.1:{metrics_port}/api/v1/status",
                                    auth=("admin", PASSWORD))
            assert status in (401, 404), status
        finally:
            g.cleanup()


DASHBOARD = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "grafana",
                         "tidegate.json")


def check_dashboard(exposition):
    """examples/grafana/tidegate.json is valid JSON and every PromQL expression in it (panels and
    template queries) selects only series that this gateway's /metrics exports."""
    exported = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", exposition, re.M))
    assert "tidegate_journal_delay_seconds_bucket" in exported, exported
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for var in dashboard.get("templating", {}).get("list", []):
        q = var.get("query")
        if isinstance(q, dict):
            exprs.append(q["query"])
    assert len(exprs) >= 10, exprs
    functions = {"sum", "rate", "by", "histogram_quantile", "label_values", "le", "queue",
                 "result", "verdict", "engine", "kind", "instance", "job"}
    for expr in exprs:
        # A series is a name not followed by '(' that is no function, keyword or label.
        names = {n for n in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*[{\[,)]|\s*$)",
                                       re.sub(r'"[^"]*"|\$\w+|\[[^\]]*\]', "", expr))}
        series = names - functions
        assert series, expr
        for name in series:
            assert name in exported, (name, expr)
    # What the issue asks the dashboard to show.
    text = " ".join(exprs)
    for needed in ("tidegate_messages_received_total", "tidegate_recipients_delivered_total",
                   "histogram_quantile(0.5", "histogram_quantile(0.99",
                   "tidegate_journal_delay_seconds_bucket", "tidegate_queue_active_recipients",
                   "tidegate_connections_out", "tidegate_journal_copies_total",
                   "tidegate_spam_verdicts_total", "tidegate_virus_verdicts_total"):
        assert needed in text, needed


def scrape(port):
    status, _, body = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200, status
    return body


def sample(body, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


def test_journal_delay_counts_from_the_original_across_a_restart():
    """The copy is delivered only after a restart; its delay still starts at the original's 250
    (the spool keeps the acceptance time), so it exceeds the time the gateway was down."""
    workdir = tempfile.mkdtemp(prefix="tidegate-metrics-")
    certs = intake_certs(workdir)
    metrics_port = free_port()
    # Its port is known, nothing listens yet: a port no outgoing connection can take meanwhile.
    intake = Sink(certs=certs, require_tls=True, port=free_port())
    with Sink() as next_hop, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"],
                        retry_delay="2s",
                        extra=f"metrics:\n  bind: 127.0.0.1:{metrics_port}\n").start()
        try:
            accepted = time.time()
            send(g, ["joe@example.com"], "across a restart")
            next_hop.wait_messages(1)
            g.wait_log("will be retried", timeout=20)  # the first attempt was refused
            g.stop()
            time.sleep(max(0.0, accepted + 4 - time.time()))
            intake.start()
            g.start()
            intake.wait_messages(1)
            deadline = time.time() + 20
            while time.time() < deadline:
                body = scrape(metrics_port)
                if sample(body, "tidegate_journal_delay_seconds_count") == 1:
                    break
                time.sleep(0.2)
            delivered_after = time.time() - accepted
            assert sample(body, "tidegate_journal_delay_seconds_count") == 1, body
            delay = sample(body, "tidegate_journal_delay_seconds_sum")
            assert 4 <= delay <= delivered_after + 1, (delay, delivered_after)
            assert sample(body, 'tidegate_journal_delay_seconds_bucket{le="2.5"}') == 0, body
            # Counted after the restart (counters start with the process): the copy and only it.
            assert sample(body, 'tidegate_journal_copies_total{result="delivered"}') == 1, body
            assert sample(body, "tidegate_messages_received_total") == 0, body
        finally:
            g.cleanup()
            intake.stop()
