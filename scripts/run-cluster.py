#!/usr/bin/python3
"""run-cluster.py — `make run-cluster`: the cluster demo on loopback (issue 18, CONTRACT §11,
docs/design-cluster.md). In a fresh folder (run/cluster/ by default, emptied at every start) it
starts:

  - a 3-member etcd (tests/e2e/etcd.py, the e2e tests' fixture): the cluster configuration and
    the machine registry;
  - a private PostgreSQL 15 server with a database `tidegate` and a role `tidegate` whose password
    is in pg.password: the gateways' `tracking: {backend: postgresql}`;
  - DNS for the demo names (dnsmasq), a next-hop mailbox (aiosmtpd, Maildir) and the intake
    (examples/cluster/intake.yaml), as the single-machine demo (scripts/run-demo.sh);
  - three gateways of the cluster Hosted_Cluster: gw1 and gw2 in group Main_Group, gw3 in no
    group (examples/cluster/gw1.yaml …). gw1 starts first and bootstraps the cluster level from
    its file; gw2 and gw3 then join and apply it.

It prints where everything is, waits, and on Ctrl-C (SIGINT) or SIGTERM stops everything it
started, by PID. A process that exits on its own stops the demo too.

Environment:
  TIDEGATE_BIN                 the binary (default build/tidegate)
  TIDEGATE_CLUSTER_RUN_DIR     the run folder (default run/cluster/); its content is replaced
  TIDEGATE_CLUSTER_PORTS=free  every port chosen free by the system instead of the defaults
                               below (which the examples and the README use); by default a busy
                               port is an error that names it
With the default ports and run folder the gateways run examples/cluster/*.yaml as they are;
otherwise from copies written to RUN/conf/ in which only the ports and ../../run/cluster/ are
replaced.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from etcd import EtcdCluster  # noqa: E402
from harness import free_ports, tcp_open, udp_free  # noqa: E402

PY = "/usr/bin/python3"  # Debian's, with python3-aiosmtpd (make deps)
BIN = os.environ.get("TIDEGATE_BIN", os.path.join(ROOT, "build", "tidegate"))
DEFAULT_RUN = os.path.join(ROOT, "run", "cluster")
EXAMPLES = os.path.join(ROOT, "examples", "cluster")
MACHINES = ("gw1", "gw2", "gw3")
# The ports examples/cluster/*.yaml use. They differ from `make run`'s (2525, 8080, …), so both
# demos can run side by side.
DEFAULT_PORTS = {
    "gw1_smtp": 3525, "gw2_smtp": 3526, "gw3_smtp": 3527,
    "gw1_admin": 9081, "gw2_admin": 9082, "gw3_admin": 9083,
    "mailbox": 3626, "intake": 3727, "console": 9084, "dns": 5354,
    "etcd1": 23790, "etcd2": 23791, "etcd3": 23792,
    "etcd1_peer": 23800, "etcd2_peer": 23801, "etcd3_peer": 23802,
    "postgresql": 25432,
}
START_TIMEOUT = 60.0


class DemoError(Exception):
    pass


def say(*args):
    print(*args, flush=True)


# ---- Ports ----

def tcp_busy(port):
    if tcp_open(port):
        return True
    with socket.socket() as s:  # a bound but not listening socket, or a port in TIME_WAIT use
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


def udp_busy(port):
    return not udp_free(port)


def choose_ports():
    if os.environ.get("TIDEGATE_CLUSTER_PORTS") == "free":
        return free_ports(DEFAULT_PORTS, udp=("dns",))
    busy = [f"{name} {port}" for name, port in DEFAULT_PORTS.items()
            if tcp_busy(port) or (name == "dns" and udp_busy(port))]
    if busy:
        raise DemoError("127.0.0.1 ports already in use (another cluster demo running?): "
                        + ", ".join(busy) + "; TIDEGATE_CLUSTER_PORTS=free chooses free ports")
    return dict(DEFAULT_PORTS)


# ---- Files: certificates, passwords, configurations ----

def openssl(*argv):
    subprocess.run(["openssl", *argv], check=True, capture_output=True, timeout=60)


def certificates(tls):
    os.makedirs(tls)
    ca_key, ca = os.path.join(tls, "ca.key"), os.path.join(tls, "ca.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca, "-days", "825", "-subj", "/CN=tidegate cluster demo CA")
    for name, cn, san in (
            ("gateway", "gw1.example.com",
             "DNS:gw1.example.com,DNS:gw2.example.com,DNS:gw3.example.com,DNS:localhost,"
             "IP:127.0.0.1"),
            ("intake", "intake.example.net", "DNS:intake.example.net,DNS:localhost,IP:127.0.0.1")):
        base = os.path.join(tls, name)
        with open(base + ".ext", "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", base + ".key", "-out", base + ".csr", "-subj", f"/CN={cn}")
        openssl("x509", "-req", "-in", base + ".csr", "-CA", ca, "-CAkey", ca_key,
                "-CAcreateserial", "-out", base + ".crt", "-days", "825", "-extfile", base + ".ext")


def password(path):
    old = os.umask(0o077)
    try:
        with open(path, "w") as f:
            f.write(os.urandom(12).hex() + "\n")
    finally:
        os.umask(old)
    with open(path) as f:
        return f.readline().strip()


def configurations(run, ports):
    """{name: path} of the configurations to run: the examples themselves with the default ports
    and run folder, else copies in RUN/conf/ with only the ports and the run folder replaced."""
    names = (*MACHINES, "intake")
    if ports == DEFAULT_PORTS and run == DEFAULT_RUN:
        return {n: os.path.join(EXAMPLES, f"{n}.yaml") for n in names}
    by_default = {str(p): str(ports[name]) for name, p in DEFAULT_PORTS.items()}
    conf = os.path.join(run, "conf")
    os.makedirs(conf, exist_ok=True)
    out = {}
    for n in names:
        with open(os.path.join(EXAMPLES, f"{n}.yaml")) as f:
            text = f.read()
        text = re.sub(r"(127\.0\.0\.1:|port=)(\d+)\b",
                      lambda m: m.group(1) + by_default.get(m.group(2), m.group(2)), text)
        text = text.replace("../../run/cluster/", run + "/")
        out[n] = os.path.join(conf, f"{n}.yaml")
        with open(out[n], "w") as f:
            f.write(text)
    return out


# ---- Processes ----

class Demo:
    def __init__(self, run, ports):
        self.run = run
        self.ports = ports
        self.logs = os.path.join(run, "logs")
        self.procs = []          # (name, Popen), in start order
        self.etcd = None
        self.pg_data = None
        self.pg_pid = None

    def spawn(self, name, argv, **kw):
        log = open(os.path.join(self.logs, f"{name}.log"), "ab")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **kw)
        log.close()
        self.procs.append((name, proc))
        self.record_pids()
        return proc

    def record_pids(self):
        """RUN/pids.json: every process this demo started (for the operator and the test)."""
        pids = {name: p.pid for name, p in self.procs}
        if self.etcd:
            pids.update({f"etcd {m.name}": m.pid for m in self.etcd.members if m.pid})
        if self.pg_pid:
            pids["postgresql"] = self.pg_pid
        with open(os.path.join(self.run, "pids.json"), "w") as f:
            json.dump(pids, f, indent=1)

    def wait(self, what, proc, check, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not check():
            if proc is not None and proc.poll() is not None:
                raise DemoError(f"{what} exited ({proc.returncode}); see {self.logs}/")
            if time.monotonic() > deadline:
                raise DemoError(f"{what} not ready after {timeout:.0f} s; see {self.logs}/")
            time.sleep(0.1)

    def wait_port(self, what, proc, port):
        self.wait(what, proc, lambda: tcp_open(port))

    # etcd: the e2e fixture, on this demo's ports.
    def start_etcd(self):
        self.etcd = EtcdCluster(self.run, members=3)
        for i, m in enumerate(self.etcd.members):
            m.client_port = self.ports[f"etcd{i + 1}"]
            m.peer_port = self.ports[f"etcd{i + 1}_peer"]
        self.etcd.initial_cluster = ",".join(f"{m.name}={m.peer_url}"
                                             for m in self.etcd.members)
        self.etcd.token = f"tidegate-cluster-demo-{os.getpid()}"
        try:
            self.etcd.start()
        except (RuntimeError, TimeoutError) as e:
            raise DemoError(f"etcd did not start: {e}") from None
        finally:
            self.record_pids()

    # PostgreSQL 15 as the postgres user (it refuses root), data under RUN/pg/.
    def start_postgresql(self, pg_password):
        bindir = "/usr/lib/postgresql/15/bin"
        if not os.path.isdir(bindir):
            bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                    check=True).stdout.strip()
        pg = os.path.join(self.run, "pg")
        self.pg_data = os.path.join(pg, "data")
        os.makedirs(pg)
        os.chmod(pg, 0o711)
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_pg:
            shutil.chown(pg, "postgres", "postgres")
            probe = subprocess.run(as_pg + ["test", "-w", pg], capture_output=True)
            if probe.returncode != 0:
                raise DemoError(f"the postgres user cannot reach {pg} (a parent folder is not "
                                "searchable by others); TIDEGATE_CLUSTER_RUN_DIR moves the demo")
        with open(os.path.join(self.logs, "postgresql.log"), "ab") as log:
            subprocess.run(as_pg + [f"{bindir}/initdb", "-D", self.pg_data, "-U", "postgres",
                                    "--auth-local=trust", "--auth-host=scram-sha-256",
                                    "-E", "UTF8", "--no-locale", "--no-sync"],
                           stdout=log, stderr=log, check=True, timeout=120)
        with open(os.path.join(self.pg_data, "postgresql.conf"), "a") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.ports['postgresql']}\n"
                    f"unix_socket_directories = '{pg}'\nfsync = off\n")
        # pg_ctl starts the postmaster in the background; its PID is in postmaster.pid.
        r = subprocess.run(as_pg + [f"{bindir}/pg_ctl", "-D", self.pg_data, "-l",
                                    os.path.join(pg, "server.log"), "-w", "-t", "60", "start"],
                           capture_output=True, text=True, timeout=90)
        if os.path.exists(os.path.join(self.pg_data, "postmaster.pid")):
            with open(os.path.join(self.pg_data, "postmaster.pid")) as f:
                self.pg_pid = int(f.readline())
            self.record_pids()
        if r.returncode != 0:
            raise DemoError(f"PostgreSQL did not start: {r.stdout}{r.stderr}; see {pg}/server.log")
        sql = (f"CREATE ROLE tidegate LOGIN PASSWORD '{pg_password}';\n"
               "CREATE DATABASE tidegate OWNER tidegate;\n")
        r = subprocess.run(as_pg + ["psql", "-h", pg, "-p", str(self.ports["postgresql"]),
                                    "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-d",
                                    "postgres"], input=sql, capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise DemoError(f"creating the tidegate role and database failed: {r.stderr}")

    def start_dns(self):
        user = ["--user=root"] if os.geteuid() == 0 else []
        proc = self.spawn("dnsmasq", [
            "/usr/sbin/dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--no-poll",
            f"--port={self.ports['dns']}", "--listen-address=127.0.0.1", "--bind-interfaces",
            *user, "--local=/#/",
            *[f"--host-record={h},127.0.0.1" for h in
              ("gw1.example.com", "gw2.example.com", "gw3.example.com", "intake.example.net",
               "mail.example.com")],
            "--mx-host=example.com,mail.example.com,10",
            "--mx-host=intake.example.net,intake.example.net,10"])
        self.wait("dnsmasq", proc, lambda: udp_busy(self.ports["dns"]))

    def stop(self):
        """Everything this demo started, newest first, by PID: SIGTERM, bounded, then SIGKILL."""
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                say(f"run-cluster: {name} (pid {proc.pid}) did not stop on SIGTERM; killed")
                proc.kill()
                proc.wait()
        if self.pg_pid:
            try:
                os.kill(self.pg_pid, signal.SIGINT)  # the postmaster's "fast" shutdown
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 30
            while os.path.exists(f"/proc/{self.pg_pid}") and time.monotonic() < deadline:
                time.sleep(0.1)
            if os.path.exists(f"/proc/{self.pg_pid}"):
                os.kill(self.pg_pid, signal.SIGKILL)
        if self.etcd:
            try:
                self.etcd.stop()
            except AssertionError as e:
                say(f"run-cluster: {e}")
            self.etcd.close()


def main():
    run = os.path.realpath(os.environ.get("TIDEGATE_CLUSTER_RUN_DIR", DEFAULT_RUN))
    show = os.path.relpath(run, ROOT) if run.startswith(ROOT + "/") else run
    ports = choose_ports()
    if os.path.isdir(run):
        # A fresh cluster every time: etcd, PostgreSQL and the spools start empty.
        subprocess.run(["rm", "-rf", "--one-file-system", run], check=True)
    os.makedirs(os.path.join(run, "logs"))
    say(f"Generating a local CA, certificates and passwords in {show}/ ...")
    certificates(os.path.join(run, "tls"))
    admin_pw = password(os.path.join(run, "admin.password"))
    intake_pw = password(os.path.join(run, "intake.password"))
    pg_pw = password(os.path.join(run, "pg.password"))
    conf = configurations(run, ports)
    show_conf = {n: os.path.relpath(p, ROOT) if p.startswith(ROOT + "/") else p
                 for n, p in conf.items()}

    demo = Demo(run, ports)
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    status = 0
    try:
        say("Starting etcd (3 members) and PostgreSQL ...")
        demo.start_etcd()
        demo.start_postgresql(pg_pw)
        demo.start_dns()
        mailbox = demo.spawn("mailbox", [PY, "-m", "aiosmtpd", "-n", "-l",
                                         f"127.0.0.1:{ports['mailbox']}", "-c",
                                         "aiosmtpd.handlers.Mailbox",
                                         os.path.join(run, "mailbox")])
        demo.wait_port("the mailbox", mailbox, ports["mailbox"])
        intake = demo.spawn("intake", [BIN, "-c", conf["intake"], "intake"])
        demo.wait_port("the intake", intake, ports["intake"])
        demo.wait_port("the intake console", intake, ports["console"])
        for name in MACHINES:
            check = subprocess.run([BIN, "-c", conf[name], "check-config"], capture_output=True,
                                   text=True, timeout=60)
            if check.returncode != 0:
                raise DemoError(f"check-config {conf[name]}: {check.stdout}{check.stderr}")
        gateways = {}
        for name in MACHINES:
            say(f"Starting {name} ...")
            g = gateways[name] = demo.spawn(name, [BIN, "-c", conf[name], "serve"])
            log = os.path.join(run, name, "mail_logs", "mail.current")

            def applied(log=log):
                try:
                    with open(log, errors="replace") as f:
                        return "Cluster configuration revision" in f.read()
                except FileNotFoundError:
                    return False
            # gw1 bootstraps the cluster before the others join.
            demo.wait(f"{name} (its cluster configuration)", g, applied)
        for name in MACHINES:
            demo.wait_port(f"{name}'s SMTP listener", gateways[name], ports[f"{name}_smtp"])
            demo.wait_port(f"{name}'s admin API", gateways[name], ports[f"{name}_admin"])
    except DemoError as e:
        say(f"run-cluster: {e}")
        status = 1
    except KeyboardInterrupt:
        status = 130
    except subprocess.CalledProcessError as e:
        say(f"run-cluster: {' '.join(map(str, e.cmd))} failed ({e.returncode})")
        status = 1
    if status:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("Stopping ...")
        demo.stop()
        return status

    etcd_urls = ", ".join(demo.etcd.client_urls)
    bin_show = os.path.relpath(BIN, ROOT) if BIN.startswith(ROOT + "/") else BIN
    lines = ["", "tidegate cluster demo is running (Ctrl-C stops it):",
             "  cluster          Hosted_Cluster: gw1, gw2 (group Main_Group), gw3",
             f"  etcd             {etcd_urls} (prefix /tidegate/; data and logs in {show}/etcd/)",
             f"  PostgreSQL       host=127.0.0.1 port={ports['postgresql']} dbname=tidegate "
             f"user=tidegate password={pg_pw} (file {show}/pg.password)"]
    for name in MACHINES:
        lines.append(f"  {name:<16} SMTP 127.0.0.1:{ports[f'{name}_smtp']}, admin "
                     f"http://127.0.0.1:{ports[f'{name}_admin']}, config {show_conf[name]}, "
                     f"mail log {show}/{name}/mail_logs/mail.current")
    lines += [f"  admin login      admin / {admin_pw} (every machine: the admin section is shared)",
              f"  next-hop mailbox 127.0.0.1:{ports['mailbox']} → {show}/mailbox/new/ (Maildir)",
              f"  intake           SMTP 127.0.0.1:{ports['intake']}, console "
              f"http://127.0.0.1:{ports['console']} (admin / {intake_pw}, account demo)",
              f"  DNS              127.0.0.1:{ports['dns']} (dnsmasq: demo names only)",
              f"  processes        {show}/pids.json; logs in {show}/logs/",
              "",
              "Send a message through gw2:",
              f"  swaks --server 127.0.0.1:{ports['gw2_smtp']} --from alice@sender.example "
              "--to bob@example.com -tls",
              "Change the cluster on gw1, see it applied on gw3:",
              f"  {bin_show} -c {show_conf['gw1']} tdcconfig disable --comment \"maintenance\"",
              f"  {bin_show} -c {show_conf['gw3']} clusterconfig show",
              f"  {bin_show} -c {show_conf['gw1']} clusterconfig machines", ""]
    say("\n".join(lines))
    try:
        while True:
            for name, proc in demo.procs:
                if proc.poll() is not None:
                    raise DemoError(f"{name} exited ({proc.returncode}); see {show}/logs/")
            for m in demo.etcd.members:
                if not m.running():
                    raise DemoError(f"etcd {m.name} exited; see {m.log_path}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except DemoError as e:
        say(f"run-cluster: {e}")
        status = 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    say("\nStopping ...")
    demo.stop()
    say("Stopped.")
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DemoError as e:
        print(f"run-cluster: {e}", file=sys.stderr)
        sys.exit(1)
