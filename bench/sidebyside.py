#!/usr/bin/env python3
"""sidebyside.py — tidegate and Postfix 3.7, the same workload, alternating, in one invocation.

    smtp-source --SMTP--> system under test --> smtp-sink          (next hop, plain, like the anchor)
                                           \\--> bench-sink + TLS   (journal copy of every message)

The Postfix side is the anchor of ../shared/bench/postfix-anchor.sh (a private instance, the same
main.cf, always_bcc for the journal copy, fsync before 250), with one change for fairness: its journal
leg goes to the same TLS sink as tidegate's, with the certificate verified (`secure` TLS policy),
because tidegate's Threat Defense Connector always uses verified TLS (CONTRACT).

Per run it reports ingest rate (N / smtp-source wall time, i.e. until the last 250), end-to-end rate
(until both sinks have every message), CPU ms per message (of the system under test alone, from a
cpuacct cgroup, and of the whole machine), p50/p99 of the reply to the final dot (measured by a
low-rate probe client that runs beside smtp-source), and the peak RSS of the system under test
(sampled sum of PSS over its processes). Medians over the rounds, and the ratio tidegate/Postfix.
Exits 1 when a message or journal copy is missing at the sinks (or a system fails).

See docs/PERFORMANCE.md for the commands and the results. Needs root (Postfix, cgroups).
bench/scanning.py reuses these pieces with the content-security engines on (issue 16).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("TIDEGATE_BUILD", os.path.join(ROOT, "build"))
TIDEGATE = os.path.join(BUILD, "tidegate")
BENCH_SINK = os.path.join(BUILD, "bench", "bench-sink")
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

# The e2e fixtures, for this script and for the benchmarks that import it (scanning.py,
# pg_tracking.py, validation.py).
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import free_port  # noqa: E402  (ports below the ephemeral range, reserved)


def cgroup_root():
    """(directory, v2): where the benchmark makes its cgroups. The cpuacct hierarchy of cgroup v1
    where it is mounted; otherwise cgroup v2 (Debian 12's default: /sys/fs/cgroup is the unified
    hierarchy; on a hybrid machine it is /sys/fs/cgroup/unified), in which every group has
    cpu.stat's usage_usec without any controller enabled. TIDEGATE_BENCH_CGROUP names a v2
    directory to use instead."""
    if os.environ.get("TIDEGATE_BENCH_CGROUP"):
        return os.environ["TIDEGATE_BENCH_CGROUP"], True
    if os.path.isdir("/sys/fs/cgroup/cpuacct"):
        return "/sys/fs/cgroup/cpuacct", False
    for d in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if os.path.exists(os.path.join(d, "cgroup.controllers")):
            return d, True
    sys.exit("sidebyside.py: no cgroup hierarchy (neither cgroup v1's cpuacct nor cgroup v2)")


HZ = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"# {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def wait_listen(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def terminate(proc, timeout=5):
    """SIGTERM to a child, a bounded wait, then SIGKILL."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_snap():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy, sum(v[:8])


def make_certs(d):
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "2", "-subj", "/CN=bench CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{d}/sink.key", "-out", f"{d}/sink.csr", "-subj", "/CN=intake.example.net")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=DNS:intake.example.net,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", f"{d}/sink.csr", "-CA", f"{d}/ca.pem", "-CAkey",
        f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/sink.pem", "-days", "2", "-extfile",
        f"{d}/ext.cnf")
    os.chmod(d, 0o755)
    for name in ("ca.pem", "sink.pem", "sink.key"):
        os.chmod(f"{d}/{name}", 0o644)


class Cgroup:
    """A cgroup (v1 cpuacct or v2, cgroup_root()) holding every process of one system under
    test."""

    def __init__(self, name):
        root, self.v2 = cgroup_root()
        self.path = os.path.join(root, name)
        if os.path.isdir(self.path):
            self.kill_all()
            os.rmdir(self.path)
        os.mkdir(self.path)

    def wrap(self, argv):
        # The child joins the group before exec, so all its descendants are counted.
        return ["/bin/sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh"] + argv

    def pids(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def cpu_ns(self):
        if self.v2:
            with open(os.path.join(self.path, "cpu.stat")) as f:
                usage = dict(line.split() for line in f)
            return int(usage["usage_usec"]) * 1000
        with open(os.path.join(self.path, "cpuacct.usage")) as f:
            return int(f.read())

    def rss_kb(self):
        # PSS, not RSS: Postfix is ~100 processes sharing libraries; summing their RSS would count
        # each shared page once per process. For a single process (tidegate) PSS is about its RSS.
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def adopt(self, pids):
        """Moves running processes (and so their future children) into this group."""
        for pid in pids:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def kill_all(self):
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def remove(self):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                self.kill_all()
                time.sleep(0.1)


class Sink:
    """smtp-sink (plain) or bench-sink (STARTTLS); both print `mesg=K` counters."""

    def __init__(self, workdir, name, tls_dir=None):
        self.port = free_port()
        self.out = os.path.join(workdir, f"{name}.cnt")
        with open(self.out, "wb") as out:
            if tls_dir:
                argv = [BENCH_SINK, "--port", str(self.port), "--cert", f"{tls_dir}/sink.pem",
                        "--key", f"{tls_dir}/sink.key", "--log-dir", workdir]
            else:
                argv = [SMTP_SINK, "-4", "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "1024"]
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        wait_listen(self.port)

    def count(self):
        try:
            with open(self.out, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 200))
                tail = f.read().decode(errors="replace")
        except OSError:
            return 0
        i = tail.rfind("mesg=")
        if i < 0:
            return 0
        digits = ""
        for ch in tail[i + 5:]:
            if not ch.isdigit():
                break
            digits += ch
        return int(digits or 0)

    def stop(self):
        terminate(self.proc)


class Tidegate:
    name = "tidegate"
    ca_file = None  # None: the bench CA (tls_dir/ca.pem)
    extra_yaml = ""  # more top-level configuration (bench/engines.py: the engines)
    default_policy_yaml = ""  # more keys of the DEFAULT policy, indented by 4

    def __init__(self, workdir, port_in, next_port, journal_port, tls_dir, cg):
        self.dir = os.path.join(workdir, "tidegate")
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "gateway.yaml")
        with open(self.config, "w") as f:
            f.write(f"""hostname: gw.bench.local
data_dir: {self.dir}/data
listeners:
  - name: Incoming
    bind: 127.0.0.1:{port_in}
    max_connections: 2000
accepted_domains: [example.com]
smtp_routes:
  example.com: 127.0.0.1:{next_port}
  intake.example.net: 127.0.0.1:{journal_port}
delivery:
  tls: none
  max_connections_per_host: 20
threat_defense_connector:
  enabled: true
  intake_address: journal@intake.example.net
  tls_ca_file: {self.ca_file or tls_dir + "/ca.pem"}
  max_connections: 20
incoming_mail_policies:
  - name: DEFAULT
    threat_defense_connector: global
{self.default_policy_yaml}admin:
  bind: 127.0.0.1:0
  password_file: {self.dir}/admin.pw
{self.extra_yaml}""")
        with open(f"{self.dir}/admin.pw", "w") as f:
            f.write("bench-not-secret\n")
        self.cg = cg
        self.port_in = port_in
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(cg.wrap([TIDEGATE, "-c", self.config, "serve"]),
                                     stdout=self.stderr, stderr=self.stderr)
        wait_listen(port_in)

    def mail_log(self):
        text = ""
        logdir = os.path.join(self.dir, "data", "mail_logs")
        for name in os.listdir(logdir):
            with open(os.path.join(logdir, name), errors="replace") as f:
                text += f.read()
        return text

    def check(self, expected):
        """Deferred/bounced counts from the mail log (the sinks are the real check)."""
        text = self.mail_log()
        return {"deferred_or_bounced": text.count("Delayed: ") + text.count("Bounced: ")
                + text.count("TDC: MID ") - text.count("successfully delivered for scanning")
                - text.count("enqueued for delivery to"),
                "delivered_log": text.count("Message done DCID")
                + text.count("successfully delivered for scanning")}

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class Postfix:
    name = "postfix"
    extra_main_cf = ""  # more main.cf lines (bench/engines.py: the milters)

    def __init__(self, workdir, port_in, next_port, journal_port, tls_dir, cg):
        self.dir = os.path.join(workdir, "postfix")
        os.makedirs(f"{self.dir}/etc")
        os.makedirs(f"{self.dir}/spool")
        os.makedirs(f"{self.dir}/data")
        os.chmod(workdir, 0o755)
        os.chmod(self.dir, 0o755)
        shutil.chown(f"{self.dir}/data", "postfix")
        d = self.dir
        with open(f"{d}/etc/main.cf", "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = gw-anchor.bench.local
mydomain = bench.local
myorigin = $myhostname
syslog_name = postfix-bench
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery
alias_maps =
alias_database =
relay_domains = example.com, intake.example.net
relay_recipient_maps =
transport_maps = inline:{{ example.com=smtp:[127.0.0.1]:{next_port}, intake.example.net=smtp:[127.0.0.1]:{journal_port} }}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
fast_flush_domains =
biff = no
append_dot_mydomain = no
delay_warning_time = 0
default_process_limit = 100
smtp_destination_concurrency_limit = 20
initial_destination_concurrency = 5
smtpd_client_connection_count_limit = 100
always_bcc = journal@intake.example.net
# the journal leg: verified TLS to the same sink tidegate uses (fairness; see docs/PERFORMANCE.md)
smtp_tls_CAfile = {tls_dir}/ca.pem
smtp_tls_policy_maps = inline:{{ {{ [127.0.0.1]:{journal_port} = secure match=intake.example.net }} }}
smtp_tls_session_cache_database = btree:{d}/data/smtp_scache
{self.extra_main_cf}""")
        with open(f"{d}/etc/master.cf", "w") as f:
            f.write(f"""127.0.0.1:{port_in} inet n -   n   -    -  smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""")
        self.cg = cg
        for cmd in ("check", "start"):
            r = subprocess.run(cg.wrap([POSTFIX, "-c", f"{d}/etc", cmd]), capture_output=True,
                               text=True)
            if r.returncode != 0:
                maillog = open(f"{d}/maillog").read() if os.path.exists(f"{d}/maillog") else ""
                raise RuntimeError(f"postfix {cmd} failed: {r.stdout}{r.stderr}{maillog[-2000:]}")
        wait_listen(port_in)

    def mail_log(self):
        try:
            return open(f"{self.dir}/maillog", errors="replace").read()
        except OSError:
            return ""

    def check(self, expected):
        text = self.mail_log()
        return {"deferred_or_bounced": text.count("status=deferred") + text.count("status=bounced"),
                "delivered_log": text.count("status=sent")}

    def stop(self):
        subprocess.run([POSTFIX, "-c", f"{self.dir}/etc", "stop"], capture_output=True)
        deadline = time.time() + 10
        while self.cg.pids() and time.time() < deadline:
            time.sleep(0.1)
        if self.cg.pids():
            subprocess.run([POSTFIX, "-c", f"{self.dir}/etc", "abort"], capture_output=True)


def message_body(size, sender="probe@bench.local"):
    """A message of about `size` bytes (header and text lines, CRLF), like smtp-source's."""
    line = b"La de da de da. " * 4 + b"\r\n"
    body = (f"From: <{sender}>\r\nTo: <user@example.com>\r\nSubject: probe\r\n\r\n").encode()
    while len(body) < size:
        body += line
    return body


class Probe(threading.Thread):
    """One message every `interval` seconds, one connection each (as smtp-source does); records the
    time from sending the final dot to the complete reply."""

    def __init__(self, port, size, interval=0.05):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.body = message_body(size)
        self.samples, self.sent, self.errors = [], 0, 0
        self.stop_flag = threading.Event()

    def one(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            # Without NODELAY the final ".\r\n" waits for the ACK of the body (Nagle), and the
            # server's delayed ACK adds ~40 ms that has nothing to do with the system under test.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            f = s.makefile("rb")

            def reply():
                while True:
                    line = f.readline()
                    if not line:
                        raise OSError("closed")
                    if line[3:4] != b"-":
                        return line

            reply()
            for cmd in (b"EHLO probe.bench.local", b"MAIL FROM:<probe@bench.local>",
                        b"RCPT TO:<user@example.com>", b"DATA"):
                s.sendall(cmd + b"\r\n")
                r = reply()
                if r[:1] not in (b"2", b"3"):
                    raise OSError(r.decode(errors="replace"))
            s.sendall(self.body)
            t0 = time.perf_counter()
            s.sendall(b".\r\n")
            r = reply()
            dt = time.perf_counter() - t0
            if r[:3] != b"250":
                raise OSError(r.decode(errors="replace"))
            s.sendall(b"QUIT\r\n")
            return dt

    def run(self):
        next_t = time.perf_counter()
        while not self.stop_flag.is_set():
            try:
                self.samples.append(self.one())
                self.sent += 1
            except OSError:
                self.errors += 1
            next_t += self.interval
            delay = next_t - time.perf_counter()
            if delay > 0:
                self.stop_flag.wait(delay)
            else:
                next_t = time.perf_counter()


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def wait_sinks(sinks, targets, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(s.count() >= t for s, t in zip(sinks, targets)):
            return True
        time.sleep(0.02)
    return False


def run_source(port, n, sessions, size, logfile):
    argv = [SMTP_SOURCE, "-4", "-s", str(sessions), "-m", str(n), "-l", str(size),
            "-f", "sender@bench.local", "-t", "user@example.com", "-M", "client.bench.local",
            f"127.0.0.1:{port}"]
    with open(logfile, "ab") as out:
        return subprocess.run(argv, stdout=out, stderr=out).returncode


def run_one(system_cls, args, size, sessions, n, tls_dir, workroot, on_window=None):
    """One timed run. `on_window("start" | "end")` marks the timed window (first timed message
    to last delivery), where the system's own CPU is measured."""
    workdir = tempfile.mkdtemp(prefix=f"{system_cls.name}-", dir=workroot)
    os.chmod(workdir, 0o755)
    cg = Cgroup(f"bench-{system_cls.name}-{os.getpid()}")
    nxt = Sink(workdir, "sink-next")
    jrn = Sink(workdir, "sink-journal", tls_dir=tls_dir)
    port_in = free_port()
    system = None
    result = {"system": system_cls.name, "size": size, "sessions": sessions, "n": n}
    try:
        system = system_cls(workdir, port_in, nxt.port, jrn.port, tls_dir, cg)
        srclog = os.path.join(workdir, "smtp-source.log")
        if args.warmup:
            run_source(port_in, args.warmup, min(sessions, 20), size, srclog)
            if not wait_sinks([nxt, jrn], [args.warmup, args.warmup], 120):
                raise RuntimeError(f"warm-up not delivered: next={nxt.count()} "
                                   f"journal={jrn.count()}")
        b_next, b_jrn = nxt.count(), jrn.count()
        settle = args.settle
        if system_cls.name == "tidegate" and args.settle_tidegate is not None:
            settle = args.settle_tidegate
        subprocess.run(["sync"])
        if settle:
            time.sleep(settle)
        probe = Probe(port_in, size, interval=args.probe_interval)
        peak = {"rss": 0}
        sampling = threading.Event()

        def sample_rss():
            while not sampling.is_set():
                peak["rss"] = max(peak["rss"], cg.rss_kb())
                sampling.wait(0.2)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        if on_window:
            on_window("start")
        cpu0, cg0 = cpu_snap(), cg.cpu_ns()
        t0 = time.time()
        sampler.start()
        probe.start()
        rc = run_source(port_in, n, sessions, size, srclog)
        t1 = time.time()
        probe.stop_flag.set()
        probe.join(60)
        want_next, want_jrn = b_next + n + probe.sent, b_jrn + n + probe.sent
        ok = wait_sinks([nxt, jrn], [want_next, want_jrn], args.timeout)
        t2 = time.time()
        cpu1, cg1 = cpu_snap(), cg.cpu_ns()
        if on_window:
            on_window("end")
        sampling.set()
        sampler.join()
        time.sleep(1.0)  # late arrivals would be duplicates
        got_next, got_jrn = nxt.count() - b_next, jrn.count() - b_jrn
        total = n + probe.sent
        result.update({
            "ingest_msgs_per_s": n / (t1 - t0),
            "e2e_msgs_per_s": total / (t2 - t0) if ok else 0.0,
            "cpu_ms_per_msg": (cg1 - cg0) / 1e6 / total,
            "machine_cpu_ms_per_msg": 1000.0 * (cpu1[0] - cpu0[0]) / HZ / total,
            "machine_busy_pct": 100.0 * (cpu1[0] - cpu0[0]) / max(1, cpu1[1] - cpu0[1]),
            "p50_ms": 1000 * percentile(probe.samples, 50),
            "p99_ms": 1000 * percentile(probe.samples, 99),
            "probe_samples": len(probe.samples), "probe_errors": probe.errors,
            "peak_rss_mb": peak["rss"] / 1024.0,
            "delivered_next": got_next, "delivered_journal": got_jrn, "expected": total,
            "missing": max(0, total - got_next) + max(0, total - got_jrn),
            "duplicates": max(0, got_next - total) + max(0, got_jrn - total),
            "source_rc": rc, "status": "ok" if ok and rc == 0 and probe.errors == 0 else "FAILED",
        })
        result.update(system.check(total))
    except Exception as e:  # a broken run is reported and fails the benchmark
        result.update({"status": "FAILED", "error": str(e)})
    finally:
        teardown(args, system, cg, [nxt, jrn], workdir)
    return result


def teardown(args, system, cg, peers, workdir):
    """Stops the system under test, anything left in its cgroup, and the peers."""
    if system is not None:
        system.stop()
    cg.kill_all()
    cg.remove()
    for peer in peers:
        peer.stop()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


FIELDS = [("ingest_msgs_per_s", "ingest msg/s", "{:.0f}"), ("e2e_msgs_per_s", "e2e msg/s", "{:.0f}"),
          ("cpu_ms_per_msg", "CPU ms/msg (system)", "{:.2f}"),
          ("machine_cpu_ms_per_msg", "CPU ms/msg (machine)", "{:.2f}"),
          ("p50_ms", "p50 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}"),
          ("peak_rss_mb", "peak memory MB (PSS)", "{:.1f}")]


def summarize(results, fields=FIELDS):
    """Markdown tables: per (size, sessions), medians per system and the ratio."""
    out = []
    keys = sorted({(r["size"], r["sessions"]) for r in results})
    for size, sessions in keys:
        rows = {s: [r for r in results if r["system"] == s and r["size"] == size
                    and r["sessions"] == sessions and r["status"] == "ok"]
                for s in ("tidegate", "postfix")}
        n = max((r["n"] for r in results if r["size"] == size and r["sessions"] == sessions),
                default=0)
        out.append(f"\n### {size} bytes, {sessions} sessions, N={n} "
                   f"(rounds ok: tidegate {len(rows['tidegate'])}, postfix {len(rows['postfix'])})\n")
        out.append("| figure | tidegate | postfix | tidegate/postfix |")
        out.append("|---|---|---|---|")
        for key, label, fmt in fields:
            med, cell = {}, {}
            for s in ("tidegate", "postfix"):
                vals = [r[key] for r in rows[s] if key in r]
                med[s] = statistics.median(vals) if vals else float("nan")
                cell[s] = fmt.format(med[s]) if vals else "–"
                if len(vals) > 1:
                    cell[s] += f" ({fmt.format(min(vals))}–{fmt.format(max(vals))})"
            ratio = med["tidegate"] / med["postfix"] if med["postfix"] else float("nan")
            out.append(f"| {label} | {cell['tidegate']} | {cell['postfix']} | {ratio:.2f} |")
    return "\n".join(out)


class Blackhole(threading.Thread):
    """Accepts TCP connections and never says a word (a next hop that hangs)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.held = []

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def stop(self):
        self.sock.close()
        for c in self.held:
            c.close()


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_queued(args, size, count, tls_dir, workroot):
    """tidegate with `count` messages queued behind a blackholed next hop (journal leg healthy):
    RSS before and after, per queued message. The bodies stay in the spool, not in memory."""
    workdir = tempfile.mkdtemp(prefix="queued-", dir=workroot)
    os.chmod(workdir, 0o755)
    cg = Cgroup(f"bench-queued-{os.getpid()}")
    hole = Blackhole()
    hole.start()
    jrn = Sink(workdir, "sink-journal", tls_dir=tls_dir)
    port_in = free_port()
    result = {"system": "tidegate", "mode": "queued", "size": size, "queued": count}
    system = None
    try:
        system = Tidegate(workdir, port_in, hole.port, jrn.port, tls_dir, cg)
        pid = system.proc.pid
        time.sleep(1.0)
        rss0 = status_kb(pid, "VmRSS")
        t0 = time.time()
        rc = run_source(port_in, count, 20, size, os.path.join(workdir, "smtp-source.log"))
        ingest = count / (time.time() - t0)
        if not wait_sinks([jrn], [count], args.timeout):
            raise RuntimeError(f"journal copies missing: {jrn.count()}/{count}")
        time.sleep(2.0)
        rss1 = status_kb(pid, "VmRSS")
        result.update({"ingest_msgs_per_s": ingest, "rss_before_mb": rss0 / 1024.0,
                       "rss_after_mb": rss1 / 1024.0,
                       "hwm_mb": status_kb(pid, "VmHWM") / 1024.0,
                       "bytes_per_queued_msg": (rss1 - rss0) * 1024.0 / count,
                       "source_rc": rc,
                       "status": "ok" if rc == 0 else "FAILED"})
    except Exception as e:
        result.update({"status": "FAILED", "error": str(e)})
    finally:
        teardown(args, system, cg, [hole, jrn], workdir)
    return result


def common_args(ap):
    """The options every mode of the benchmark has (bench/engines.py adds its own)."""
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--settle", type=float, default=62.0,
                    help="idle seconds after sync before each timed run (ext4 inode note)")
    ap.add_argument("--settle-tidegate", type=float, default=None,
                    help="settle time before tidegate's runs (default: --settle). tidegate's "
                         "spool appends to 64 MB segments instead of creating a file per "
                         "message, so it does not need the ext4 pause; a shorter one can only "
                         "hurt it (it may run right after Postfix deleted 40,000 files)")
    ap.add_argument("--probe-interval", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", default=None, help="directory for results.jsonl and summary.md")
    ap.add_argument("--keep", action="store_true", help="keep work directories")


def prepare(args, prog):
    """Checks root and the binaries; makes --out, the work root and the bench TLS certificates.
    Returns (out, workroot, tls_dir)."""
    if os.geteuid() != 0:
        sys.exit(f"{prog}: must run as root (Postfix, cgroups)")
    for b in (TIDEGATE, BENCH_SINK, SMTP_SOURCE, SMTP_SINK, POSTFIX):
        if not os.access(b, os.X_OK):
            sys.exit(f"{prog}: missing {b} (make build; make deps)")
    out = args.out or tempfile.mkdtemp(prefix="tidegate-bench-")
    os.makedirs(out, exist_ok=True)
    workroot = tempfile.mkdtemp(prefix="work-", dir=out)
    for d in (out, workroot):  # Postfix daemons run as user postfix and must reach their dirs
        os.chmod(d, 0o755)
    tls_dir = os.path.join(workroot, "tls")
    os.makedirs(tls_dir)
    make_certs(tls_dir)
    return out, workroot, tls_dir


def run_rounds(args, points, order, tls_dir, workroot, out, before_round=None, before_run=None,
               after_run=None, on_window=None, before_system=None):
    """Every point, every system, `args.rounds` times, alternating who goes first; each result
    is appended to out/results.jsonl as it comes. Hooks (bench/scanning.py): `before_round(rnd)`
    and `before_system(rnd, name)` (just before each system's run) return more results of their
    own, `after_run(result, before_run())` adds figures to one, `on_window` goes to run_one."""
    results = []
    with open(os.path.join(out, "results.jsonl"), "a") as jl:
        def record(rows):
            for r in rows:
                results.append(r)
                jl.write(json.dumps(r) + "\n")
                jl.flush()

        for rnd in range(args.rounds):
            record(before_round(rnd) if before_round else [])
            for size, sessions, n in points:
                # alternate who goes first, so neither always runs on a warmer machine
                seq = order if rnd % 2 == 0 else list(reversed(order))
                for cls in seq:
                    record(before_system(rnd, cls.name) if before_system else [])
                    log(f"round {rnd + 1}/{args.rounds} {cls.name} size={size} "
                        f"sessions={sessions} n={n}")
                    token = before_run() if before_run else None
                    r = run_one(cls, args, size, sessions, n, tls_dir, workroot, on_window)
                    r["round"] = rnd + 1
                    if after_run:
                        after_run(r, token)
                    record([r])
                    log(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in r.items()))
    return results


def finish(out, results, summary):
    """Writes and prints the summary; 1 when any run failed or lost a message or copy."""
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(summary + "\n")
    print(summary)
    failed = [r for r in results if r["status"] != "ok" or r.get("missing", 0)]
    if failed:
        print(f"\nFAILED: {len(failed)} run(s) with missing messages/copies or errors:",
              file=sys.stderr)
        for r in failed:
            print("  " + json.dumps(r), file=sys.stderr)
        return 1
    print(f"\n# results: {out}/results.jsonl", file=sys.stderr)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(ap)
    ap.add_argument("-n", type=int, default=20000, help="messages per timed run (main point)")
    ap.add_argument("--scale-n", type=int, default=5000, help="messages per run for scale points")
    ap.add_argument("--matrix", choices=["main", "full", "scale"], default="main",
                    help="main: 4 KB x 20 sessions; scale: 1K/10K/100K x 20 and 10K x 1/200; "
                         "full: both")
    ap.add_argument("--systems", default="tidegate,postfix")
    ap.add_argument("--break-journal", action="store_true",
                    help="self-test of the checker: tidegate trusts a CA that did not sign the "
                         "sink's certificate, so no copy arrives and the run must fail")
    ap.add_argument("--queued", type=int, default=0,
                    help="also: RSS of tidegate with this many messages queued behind a "
                         "blackholed next hop, at 1 KB and 10 KB (e.g. 100000)")
    args = ap.parse_args()

    out, workroot, tls_dir = prepare(args, "sidebyside.py")
    points = [(4096, 20, args.n)] if args.matrix in ("main", "full") else []
    if args.matrix in ("full", "scale"):
        points += [(1024, 20, args.scale_n), (10240, 20, args.scale_n),
                   (102400, 20, max(1, args.scale_n // 2)), (10240, 1, max(1, args.scale_n // 5)),
                   (10240, 200, args.scale_n)]
    systems = {"tidegate": Tidegate, "postfix": Postfix}
    order = [systems[s] for s in args.systems.split(",")]
    if args.break_journal:
        Tidegate.ca_file = os.path.join(workroot, "other-ca", "ca.pem")
        os.makedirs(os.path.dirname(Tidegate.ca_file))
        make_certs(os.path.dirname(Tidegate.ca_file))
    results = run_rounds(args, points, order, tls_dir, workroot, out)
    if args.queued:
        for size in (1024, 10240):
            log(f"queued: tidegate, {args.queued} messages of {size} bytes behind a blackhole")
            r = run_queued(args, size, args.queued, tls_dir, workroot)
            results.append(r)
            log(json.dumps(r))
    summary = summarize([r for r in results if r.get("mode") != "queued"])
    queued = [r for r in results if r.get("mode") == "queued"]
    if queued:
        summary += ("\n\n### tidegate: messages queued behind a blackholed next hop\n\n"
                    "| size | queued | RSS before MB | RSS after MB | bytes per queued message |"
                    "\n|---|---|---|---|---|\n")
        summary += "\n".join(f"| {r['size']} | {r['queued']} | {r.get('rss_before_mb', 0):.1f} | "
                             f"{r.get('rss_after_mb', 0):.1f} | "
                             f"{r.get('bytes_per_queued_msg', 0):.0f} |" for r in queued)
    with open(os.path.join(out, "results.jsonl"), "a") as jl:
        for r in queued:
            jl.write(json.dumps(r) + "\n")
    return finish(out, results, summary)


if __name__ == "__main__":
    sys.exit(main())
