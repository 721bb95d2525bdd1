"""etcd.py — a private etcd 3.4 cluster (Debian etcd-server) for the tests: cluster mode's
configuration store and machine registry (CONTRACT §11), run as child processes on free
127.0.0.1 ports with their data and logs in a work folder, stopped by their PIDs
(docs/testing-engines.md, "etcd").

    with EtcdCluster(workdir, members=3) as cluster:
        cluster.client_urls          # ["http://127.0.0.1:P1", …], one per member, in order
        cluster.kill(0)              # SIGKILL member 0 (by PID); its data dir stays
        cluster.start(0)             # the same member again (same ports, same data)
        cluster.etcdctl("put", "k", "v")      # etcdctl against every live member, bounded
        cluster.stop()               # every member (SIGTERM, bounded, then SIGKILL)

- Members start together (a 3-member cluster needs a quorum before any is healthy); `start()`
  waits, bounded (START_TIMEOUT), until each started member answers `GET /health` with
  {"health":"true"}; a member that exits or never gets healthy raises with the tail of its log.
- Each member's log is `<workdir>/etcd/eN/etcd.log`; `logs()` returns their tails, for a
  failure's message.
- tls=EtcdTls(ca, cert, key): client URLs are https with that server certificate (peers stay
  plain http on loopback); `etcdctl` and the health check verify it with `ca`.
- Watch progress notifications every PROGRESS_INTERVAL (etcd's default is 10 min), so that a
  client's idle timeout (cluster::EtcdOptions::idle_timeout) never fires on a healthy stream.
- Elections are fast (heartbeat 50 ms, election timeout 500 ms): a killed leader is replaced
  within about a second.
"""
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from engines import _tail  # noqa: E402
from harness import free_port  # noqa: E402

PROGRESS_INTERVAL = "2s"


@dataclass
class EtcdTls:
    ca: str      # PEM file: the CA that signed cert
    cert: str    # the members' server certificate (with IP SAN 127.0.0.1)
    key: str


def _binary(name):
    for folder in ("/usr/bin", "/usr/local/bin", "/usr/sbin"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"{name} not installed (make deps: etcd-server etcd-client)")


class EtcdMember:
    def __init__(self, workdir, index, tls):
        self.name = f"e{index + 1}"
        self.dir = os.path.join(workdir, self.name)
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "etcd.log")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.tls = tls
        self.proc = None

    @property
    def client_url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self):
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def pid(self):
        return self.proc.pid if self.running() else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def argv(self, initial_cluster, token):
        argv = [_binary("etcd"), "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url,
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", initial_cluster,
                "--initial-cluster-state", "new", "--initial-cluster-token", token,
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--experimental-watch-progress-notify-interval", PROGRESS_INTERVAL]
        if self.tls:
            argv += ["--cert-file", self.tls.cert, "--key-file", self.tls.key]
        return argv

    def spawn(self, argv):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)

    def healthy(self):
        """GET /health answered {"health":"true"} (the member is in a cluster with a leader)."""
        context = None
        if self.tls:
            context = ssl.create_default_context(cafile=self.tls.ca)
        try:
            with urllib.request.urlopen(self.client_url + "/health", timeout=1,
                                        context=context) as reply:
                return json.loads(reply.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def kill(self):
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout=15.0):
        if not self.running():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"etcd {self.name} (pid {self.proc.pid}) did not stop on SIGTERM")


class EtcdCluster:
    START_TIMEOUT = 30.0
    POLL = 0.05

    def __init__(self, workdir, members=1, tls=None):
        assert members >= 1
        self.workdir = os.path.join(workdir, "etcd")
        self.tls = tls
        self.token = f"tidegate-test-{os.getpid()}-{free_port()}"
        self.members = [EtcdMember(self.workdir, i, tls) for i in range(members)]
        self.initial_cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def client_urls(self):
        return [m.client_url for m in self.members]

    def pid(self, i):
        return self.members[i].pid

    def logs(self):
        return "\n".join(f"=== {m.name} ({m.log_path}):\n{_tail(m.log_path)}" for m in self.members)

    def start(self, *indexes):
        """Starts the given members (all when none given) and waits until each is healthy. A
        member restarted on its data dir rejoins; the initial-cluster flags are then ignored."""
        chosen = [self.members[i] for i in indexes] if indexes else self.members
        for m in chosen:
            assert not m.running(), f"etcd {m.name} is already running"
            m.spawn(m.argv(self.initial_cluster, self.token))
        self.wait_healthy(*[self.members.index(m) for m in chosen])
        return self

    def wait_healthy(self, *indexes, timeout=None):
        chosen = [self.members[i] for i in indexes] if indexes else self.members
        deadline = time.monotonic() + (timeout or self.START_TIMEOUT)
        waiting = list(chosen)
        while waiting:
            for m in list(waiting):
                if not m.running():
                    raise RuntimeError(f"etcd {m.name} exited with {m.proc.returncode}:\n"
                                       f"{self.logs()}")
                if m.healthy():
                    waiting.remove(m)
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd {[m.name for m in waiting]} not healthy after "
                                   f"{timeout or self.START_TIMEOUT}s:\n{self.logs()}")
            time.sleep(self.POLL)

    def kill(self, i):
        """SIGKILL to member i by its PID; the data dir stays for start(i)."""
        self.members[i].kill()

    def stop(self):
        """Every running member: SIGTERM, bounded, then SIGKILL."""
        errors = []
        for m in self.members:
            try:
                m.terminate()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "; ".join(errors)

    def etcdctl(self, *args, user=None, endpoints=None, timeout=20.0, check=True):
        """Runs `etcdctl` (API 3) against `endpoints` (default: the running members); returns
        its stdout. user: "name:password"."""
        urls = endpoints or [m.client_url for m in self.members if m.running()]
        argv = [_binary("etcdctl"), "--endpoints", ",".join(urls), "--command-timeout", "5s"]
        if self.tls:
            argv += ["--cacert", self.tls.ca]
        if user:
            argv += ["--user", user]
        proc = subprocess.run(argv + list(args), capture_output=True, timeout=timeout,
                              env=dict(os.environ, ETCDCTL_API="3"))
        if check and proc.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed ({proc.returncode}): "
                               f"{proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode(errors="replace")

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for m in self.members:
            m.kill()


def make_test_ca(folder):
    """A CA and a server certificate for 127.0.0.1 (IP SAN) made with the openssl command;
    → EtcdTls. Takes well under a second."""
    os.makedirs(folder, exist_ok=True)
    ca_key, ca = os.path.join(folder, "ca.key"), os.path.join(folder, "ca.pem")
    key, csr, cert = (os.path.join(folder, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(folder, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")

    def run(*argv):
        subprocess.run(["openssl", *argv], check=True, capture_output=True, timeout=30)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=tidegate test etcd CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)
    return EtcdTls(ca=ca, cert=cert, key=key)
