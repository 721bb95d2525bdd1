#!/usr/bin/env python3
"""scanning.py — the side-by-side benchmark with content security on (issue 16, CONTRACT §10).

    smtp-source --SMTP--> tidegate ------------------------> smtp-sink + bench-sink (journal, TLS)
                             | POST /checkv2, zIDSESSION/zINSTREAM (both at once)
                             v
                          rspamd (normal worker) + clamd           (outside the measured cgroup)
                             ^
                             | milter (rspamd proxy worker, self_scan; clamav-milter -> clamd)
    smtp-source --SMTP--> Postfix -------------------------> smtp-sink + bench-sink (journal, TLS)

rspamd 3.4 and clamd 1.4 run privately from the e2e fixtures (tests/e2e/engines.py: the package's
rules, no network lists, the project's two-signature ClamAV database), once for the whole
benchmark; here rspamd also gets a proxy worker in milter mode that scans itself, and clamav-milter
runs against the same clamd, for Postfix. The engines are in a cgroup of their own, so the
system-under-test figure (bench/sidebyside.py) stays the gateway's own and the engines' CPU is
reported beside it.

Each round measures, on the main point's load (4 KB messages, 20 parallel clients):
- the engines alone, on their own protocols, from `--sessions` processes: rspamd `POST /checkv2`
  with the headers tidegate sends; clamd `zINSTREAM` in a `zIDSESSION` per client (as tidegate's
  pooled client does). Every message is the gateway's form of smtp-source's message with its own
  number (direct_body, message_for): clamd answers a repeated message from its cache;
- before each system's run, both engines per message, one after the other per client (what the
  gateway asks of the two engines together): the engines' capacity of that minute, paired with the
  run that follows (the engines' speed drifts on this shared machine);
- tidegate end to end (DEFAULT policy: anti-spam and anti-virus on, journaling on) and Postfix with
  both milters, exactly as sidebyside.py runs them (same sinks, probe, checks).
Then medians, the ratios e2e / engine capacity (the median of the paired ratios is the figure for
issue 16's target), and tidegate/Postfix. Exits 1 when a message or a journal copy is missing, a
system fails, an engine request fails, or a message was not scanned.

`--engine-cpu-list auto --engine-cpus 0.5` gives the engines half of one CPU and nothing else:
every other process runs on the other CPUs, and so does the kernel's work for the systems' disk
writes (KernelWorkElsewhere); `auto` picks a CPU that the spool disk's interrupts do not land on
(engine_cpus_for; sessions 12-13 named CPU 1, which takes them on this machine).
`--perf DIR` profiles every CPU over each "both" run and each system's timed window.
bench/paired_ratios.py pools the paired ratios of several runs; bench/engine_neighbour.py
measures what a relaying gateway beside the engines alone costs them.

See docs/PERFORMANCE.md ("Content security (issue 16)"). Needs root (Postfix, cgroups).
"""
import argparse
import itertools
import multiprocessing
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import sidebyside as sb
# The e2e fixtures (tests/e2e, on the path through sidebyside): Rspamd, Clamd, rspamd_check, Sink.
import engines as fx
from peers import Sink

CLAMAV_MILTER = shutil.which("clamav-milter") or "/usr/sbin/clamav-milter"
HELO, SENDER, RCPT = "client.bench.local", "sender@bench.local", "user@example.com"
GATEWAY_HOSTNAME = "gw.bench.local"  # sidebyside's tidegate `hostname` (its Received line's `by`)


class RspamdWithMilter(fx.Rspamd):
    """The fixture's rspamd, plus a proxy worker in milter mode that scans itself (rspamd's own
    Postfix integration, /etc/rspamd/worker-proxy.inc) on `milter_port`."""

    def __init__(self, workdir):
        super().__init__(workdir)
        self.milter_port = sb.free_port()

    def _write_config(self):
        super()._write_config()
        with open(os.path.join(self.workdir, "rspamd.conf"), "a") as f:
            f.write(f"""worker "rspamd_proxy" {{
    bind_socket = "127.0.0.1:{self.milter_port}";
    milter = yes;
    timeout = 120s;
    count = 1;
    upstream "local" {{
        default = yes;
        self_scan = yes;
    }}
}}
""")

    def tasks(self):
        """Messages rspamd has scanned since it started (one log line each, both workers)."""
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if "rspamd_task_write_log" in line)


class ClamavMilter:
    """clamav-milter (Debian `clamav-milter`) on 127.0.0.1:<port> against our clamd, in the
    foreground, stopped by its PID."""

    def __init__(self, workdir, clamd_port, cg):
        self.dir = os.path.join(workdir, "clamav-milter")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o777)
        self.port = sb.free_port()
        conf = os.path.join(self.dir, "clamav-milter.conf")
        with open(conf, "w") as f:
            f.write(f"""MilterSocket inet:{self.port}@127.0.0.1
ClamdSocket tcp:127.0.0.1:{clamd_port}
Foreground yes
PidFile {self.dir}/clamav-milter.pid
TemporaryDirectory {self.dir}
LogFile {self.dir}/clamav-milter.log
LogFileMaxSize 0
LogTime yes
LogClean Basic
OnClean Accept
OnInfected Reject
OnFail Defer
AddHeader No
MaxFileSize 25M
ReadTimeout 120
""")
        self.log_path = f"{self.dir}/clamav-milter.log"
        self.out = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(cg.wrap([CLAMAV_MILTER, "-c", conf]), stdout=self.out,
                                     stderr=self.out)
        try:
            sb.wait_listen(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError("clamav-milter did not start: " + open(self.out.name).read()
                               + fx._tail(self.log_path))

    def scans(self):
        """Messages it has passed as clean (`LogClean Basic`: one line each)."""
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if "Clean message" in line)

    def stop(self):
        sb.terminate(self.proc, 10)
        self.out.close()


# --------------------------------------------------------------------------------------------
# The engines alone: a load generator on their own protocols
# --------------------------------------------------------------------------------------------

def _rspamd_one(port, body, i):
    # Hostname: what the gateway sends (src/scan/stage.cc: it does no PTR lookup, so "unknown").
    r = fx.rspamd_check(port, body, ip="127.0.0.1", helo=HELO, mail_from=SENDER, rcpt=RCPT,
                        hostname="unknown", queue_id=str(i))
    return r.get("action") == "no action"


class ClamdSession:
    """One clamd connection in session mode (zIDSESSION), numbered zINSTREAM replies."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(b"zIDSESSION\0")
        self.seq = 0

    def scan(self, body):
        self.seq += 1
        self.sock.sendall(b"zINSTREAM\0" + struct.pack("!I", len(body)) + body
                          + struct.pack("!I", 0))
        return fx._read_reply(self.sock) == f"{self.seq}: stream: OK".encode()

    def close(self):
        try:
            self.sock.sendall(b"zEND\0")
        finally:
            self.sock.close()


def _client(job):
    """One load-generator process: `count` messages to rspamd, clamd or both; returns the
    number of requests that did not get a clean verdict."""
    what, rspamd_port, clamd_port, template, count, base = job
    bad = 0
    session = ClamdSession(clamd_port) if what in ("clamd", "both") else None
    try:
        for i in range(count):
            body = message_for(template, base + i)
            if what in ("rspamd", "both"):
                bad += not _rspamd_one(rspamd_port, body, base + i)
            if session:
                bad += not session.scan(body)
    except OSError:
        bad += 1
    finally:
        if session:
            session.close()
    return bad


def _join_cgroup(cg):
    cg.adopt([os.getpid()])


ID_MARK = b"@@ID@@"
_RUNS = itertools.count(1)


def message_for(template, n):
    """Message number `n` of the direct load: the template with its MID and Message-Id made
    unique. Every message must differ, as in the end-to-end run: clamd keeps a cache of the
    files it found clean (keyed by their hash), so the same bytes sent again are a cache hit
    without a scan. The first versions of this benchmark sent one message over and over and so
    measured clamd's cache, not its scans (session 11)."""
    return template.replace(ID_MARK, str(n).encode())


def direct_body(size, workdir):
    """The message the direct load sends: byte for byte the form the engines get from the
    gateway in the end-to-end run: smtp-source's own message (captured here from the same
    smtp-source arguments as the timed runs, sb.run_source) below the trace header lines the
    gateway prepends (src/inbound/trace_headers.cc: Received with the HELO name, "unknown"
    reverse DNS, the MID, the first recipient; then X-IronPort-RemoteIP), with a placeholder
    (ID_MARK) for the MID and in the Message-Id that message_for() numbers. Until session 11 a
    hand-made body ("La de da" lines) was sent; rspamd scored it with other rules."""
    sink = Sink().start()
    try:
        rc = sb.run_source(sink.port, 1, 1, size, os.path.join(workdir, "capture-source.log"))
        got = sink.wait_messages(1, timeout=10) if rc == 0 else []
    finally:
        sink.stop()
    if not got:
        raise RuntimeError(f"could not capture smtp-source's message (rc {rc})")
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    head = (f"Received: from {HELO} (unknown [127.0.0.1])\r\n"
            f"\tby {GATEWAY_HOSTNAME} (tidegate) with SMTP id @@ID@@\r\n"
            f"\tfor <{RCPT}>; {date}\r\n"
            "X-IronPort-RemoteIP: 127.0.0.1\r\n").encode()
    message = got[0].data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    # smtp-source's Message-Id (<pid.session.message@helo>) gets the number as well.
    start = message.lower().find(b"\nmessage-id: <")
    if start < 0:
        raise RuntimeError("smtp-source's message has no Message-Id")
    start += len(b"\nmessage-id: <")
    message = message[:start] + ID_MARK + b"." + message[start:]
    return head + message


class CpuBudget:
    """--engine-cpus: the engines (both rspamd workers, clamd and clamav-milter) share a fixed
    CPU budget through the cgroup v1 `cpu` controller (CFS quota), in the direct runs and in the
    systems' runs alike, so "e2e / engines alone" compares the same engines with the same CPU:
    whether the system keeps the engines busy, apart from how much CPU its own load rig takes on
    the shared cores."""

    ROOT = "/sys/fs/cgroup/cpu"

    def __init__(self, cores):
        if not os.path.exists(os.path.join(self.ROOT, "cpu.cfs_quota_us")):
            sys.exit("scanning.py: --engine-cpus needs cgroup v1's cpu controller at " + self.ROOT)
        self.path = os.path.join(self.ROOT, f"bench-engines-{os.getpid()}")
        os.makedirs(self.path, exist_ok=True)
        with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(int(cores * 100000)))

    def adopt(self, pids):
        for pid in pids:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def throttled_s(self):
        with open(os.path.join(self.path, "cpu.stat")) as f:
            stat = dict(line.split() for line in f)
        return int(stat.get("throttled_time", 0)) / 1e9

    def close(self):
        root = os.path.join(self.ROOT, "cgroup.procs")
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                pids = f.read().split()
            for pid in pids:
                try:
                    with open(root, "w") as f:
                        f.write(pid)
                except OSError:
                    pass
            os.rmdir(self.path)
        except OSError:
            pass


def parse_cpu_list(text):
    """'1' or '0,2-3' -> {1} / {0, 2, 3}."""
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def disk_of(path):
    """/sys/devices/... of the disk (not the partition) that holds `path`."""
    dev = os.stat(path).st_dev
    block = os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not os.path.isdir(os.path.join(block, "queue")):  # a partition: its disk
        block = os.path.dirname(block)
    return block


def proc_interrupts():
    """/proc/interrupts as [(source, name, {cpu: count})]: a numbered interrupt's source is its
    number and its name the last column (`virtio1-req.0`); the kernel's own (`LOC`, `CAL`, ...)
    are named by their source. [] when it cannot be read."""
    try:
        with open("/proc/interrupts") as f:
            cpus = [int(c[3:]) for c in f.readline().split()]
            out = []
            for line in f:
                source, _, rest = line.partition(":")
                fields = rest.split()
                source = source.strip()
                counts = {cpu: int(v) for cpu, v in zip(cpus, fields) if v.isdigit()}
                name = fields[-1] if source.isdigit() and fields else source
                out.append((source, name, counts))
            return out
    except (OSError, ValueError):
        return []


def disk_irq_cpus(path):
    """({cpu}, [irq]): the CPUs that take the interrupts of the disk holding `path` (each
    interrupt's effective affinity), found through the disk's PCI device (`msi_irqs`); the
    virtio device's configuration interrupt (`*-config`) is left out. ((), []) when not found
    (no PCI device, no MSI)."""
    names = {source: name for source, name, _ in proc_interrupts() if source.isdigit()}
    d = disk_of(path)
    while d.startswith("/sys/devices/") and not os.path.isdir(os.path.join(d, "msi_irqs")):
        d = os.path.dirname(d)
    if not os.path.isdir(os.path.join(d, "msi_irqs")):
        return set(), []
    cpus, irqs = set(), []
    for irq in sorted(os.listdir(os.path.join(d, "msi_irqs")), key=int):
        if names.get(irq, "").endswith("-config"):
            continue
        try:
            with open(f"/proc/irq/{irq}/effective_affinity_list") as f:
                cpus |= parse_cpu_list(f.read().strip())
        except (OSError, ValueError):
            continue
        irqs.append(f"{irq} ({names.get(irq, '?')})")
    return cpus, irqs


def engine_cpus_for(text, path):
    """--engine-cpu-list: ({engine cpus}, {other cpus}, note). 'auto': the highest-numbered CPU
    that takes none of the interrupts of the disk holding `path` (the systems' spools). Session
    14: that disk's interrupt (virtio1-req.0) lands on CPU 1 here, and its affinity is managed
    by the kernel (it cannot be moved): with the engines on CPU 1, every fsync of the system
    under test interrupted them (2-3 interrupts per engine message beside a relaying gateway,
    against none on CPU 0), which the direct load never does."""
    mine = set(os.sched_getaffinity(0))
    irq_cpus, irqs = disk_irq_cpus(path)
    if text == "auto":
        free = sorted(mine - irq_cpus)
        if not free or len(mine) < 2:
            sys.exit(f"--engine-cpu-list auto: every CPU {sorted(mine)} takes the disk's "
                     f"interrupts ({', '.join(irqs)}); name the engines' CPUs")
        engines = {free[-1]}
    else:
        engines = parse_cpu_list(text)
    other = mine - engines
    if not other or not engines <= mine:
        sys.exit(f"--engine-cpu-list {text} must name some, not all, of the CPUs {sorted(mine)}")
    note = (f"the disk's interrupts {', '.join(irqs)} land on CPUs {sorted(irq_cpus)}"
            if irqs else "the disk's interrupts: not found")
    if engines & irq_cpus:
        note += " - ON THE ENGINES' CPUS (--engine-cpu-list auto avoids them)"
    return engines, other, note


def threads(pids):
    """The thread ids of every process in `pids` (those gone meanwhile skipped)."""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        yield from (int(tid) for tid in tids)


def pin_tasks(pids, cpus):
    """Every thread of every process in `pids` onto `cpus` (threads and processes they start
    later inherit it)."""
    for tid in threads(pids):
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass


class PerfRecorder:
    """--perf DIR: a CPU profile of every CPU (`perf record -e cpu-clock -a`) over each "both"
    run and each system's timed window, one file per run (DIR/r<round>-<run>.data), to compare
    where the engines (`perf report --cpu 1`) and the rest spend their CPU under each load
    (`perf report -i FILE --sort comm,dso,sym`). A diagnostic: perf's own sampling costs a
    little CPU, in every run alike, and it needs a moment to start (the first few hundred
    milliseconds of a run may be missing)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.proc = None

    def start(self, label):
        self.stop()
        out = os.path.join(self.dir, f"{label}.data")
        self.proc = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000",
                                      "-a", "-o", out],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc:
            self.proc.send_signal(2)  # SIGINT: perf writes its file and exits
            self.proc.wait(30)
            self.proc = None


class KernelWorkElsewhere:
    """The kernel's work for the systems' disk writes, off the engines' CPUs (with
    --engine-cpu-list), restored on close().

    Pinning the processes is not enough: session 12 traced CPU 1 (`perf sched record -C 1`) and
    found rspamd preempted about 280 times a second in the end-to-end run against 160 under the
    direct load. The extra preemptions were the kernel's unbound workers
    (`kworker/u8:*-ext4-rsv-conversion`: ext4 finishing the writes behind the spool's fsyncs),
    which ran on the engines' CPU: the system's disk work cost the engines CPU and their caches.
    Here the unbound workqueues get the other CPUs (/sys/devices/virtual/workqueue/cpumask) and
    the spool's disk completes each request on the CPU that submitted it (queue/rq_affinity = 2;
    its interrupt's affinity is managed by the kernel and cannot be moved: `--engine-cpu-list
    auto` puts the engines where it does not land, engine_cpus_for). Both are global
    settings; a benchmark killed with SIGKILL leaves them set (the log names them)."""

    def __init__(self, cpus, path):
        self.saved = []
        self._set("/sys/devices/virtual/workqueue/cpumask", f"{sum(1 << c for c in cpus):x}")
        self._set(os.path.join(disk_of(path), "queue", "rq_affinity"), "2")

    def _set(self, path, value):
        try:
            with open(path) as f:
                old = f.read().strip()
            with open(path, "w") as f:
                f.write(value)
            self.saved.append((path, old))
            sb.log(f"{path}: {old} -> {value} (restored at the end)")
        except OSError as e:
            sb.log(f"cannot set {path} to {value}: {e} (the engines' CPU also runs the kernel's "
                   f"disk work)")

    def close(self):
        for path, old in reversed(self.saved):
            try:
                with open(path, "w") as f:
                    f.write(old)
            except OSError as e:
                sb.log(f"cannot restore {path} to {old}: {e}")
        self.saved = []


class Groups:
    """The cgroups outside the system under test: rspamd (both workers), clamd (with
    clamav-milter), and the direct load generator."""

    def __init__(self):
        self.rspamd = sb.Cgroup(f"bench-rspamd-{os.getpid()}")
        self.clamd = sb.Cgroup(f"bench-clamd-{os.getpid()}")
        self.loadgen = sb.Cgroup(f"bench-loadgen-{os.getpid()}")

    def snap(self):
        return (time.time(), self.rspamd.cpu_ns(), self.clamd.cpu_ns(), self.loadgen.cpu_ns(),
                {name: self._detail(cg) for name, cg in (("rspamd", self.rspamd),
                                                         ("clamd", self.clamd))})

    @staticmethod
    def _detail(cg):
        """(kernel CPU s, [sleeps, preemptions]) of a group's threads: where an engine's CPU per
        message goes besides its own work (the network stack, wake-ups). The switches of a thread
        that ended between two snapshots drop out of the difference (clamd ends idle threads)."""
        sys_s = 0.0
        try:
            with open(os.path.join(cg.path, "cpuacct.stat")) as f:
                sys_s = int(dict(line.split() for line in f)["system"]) / sb.HZ
        except (OSError, KeyError):
            pass
        switches = [0, 0]
        for tid in threads(cg.pids()):
            try:
                with open(f"/proc/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            switches[0] += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            switches[1] += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                pass
        return sys_s, switches

    def figures(self, before, n, now=None):
        """CPU ms per message of each group from `before` to `now` (a snap(); default: now),
        and the cores each kept busy."""
        now = now or self.snap()
        dt = now[0] - before[0]
        out = {}
        for i, name in ((1, "rspamd"), (2, "clamd"), (3, "loadgen")):
            ns = now[i] - before[i]
            out[f"{name}_cpu_ms_per_msg"] = ns / 1e6 / max(1, n)
            out[f"{name}_cores"] = ns / 1e9 / dt
        for name in ("rspamd", "clamd"):
            (s0, c0), (s1, c1) = before[4][name], now[4][name]
            out[f"{name}_sys_ms_per_msg"] = 1000.0 * (s1 - s0) / max(1, n)
            out[f"{name}_switches_per_msg"] = (c1[0] - c0[0]) / max(1, n)
            out[f"{name}_preempted_per_msg"] = (c1[1] - c0[1]) / max(1, n)
        return out

    def close(self):
        for cg in (self.rspamd, self.clamd, self.loadgen):
            cg.kill_all()
            cg.remove()


class EngineRig:
    """The engines of a benchmark and what surrounds them, undone by close(): the CPU layout
    (--engine-cpu-list: this process and all it starts later on the other CPUs, the kernel's
    disk work there too), rspamd (normal worker + milter proxy) and clamd in cgroups of their
    own (`groups`), clamd's temporary folder, the warm-up and the CPU budget. Used by this
    benchmark and bench/engine_neighbour.py."""

    def __init__(self, workroot, cpu_list, clamd_tmp_parent):
        self.workroot = workroot
        self.groups = Groups()
        self.rspamd = self.clamd = self.kernel_work = self.budget = self.tmp = None
        self.cpus = self.other_cpus = None
        self.cpu_list = cpu_list
        self.clamd_tmp_parent = clamd_tmp_parent
        self.edir = os.path.join(workroot, "engines")
        os.makedirs(self.edir)
        os.chmod(self.edir, 0o755)
        if cpu_list:
            self.cpus, self.other_cpus, note = engine_cpus_for(cpu_list, workroot)
            sb.log(f"engines on CPUs {sorted(self.cpus)}; {note}")
            self.cpu_list = ",".join(str(c) for c in sorted(self.cpus))
            # Everything started from here on inherits the other CPUs; pin() moves the engines.
            os.sched_setaffinity(0, self.other_cpus)

    def start(self):
        if self.other_cpus:
            self.kernel_work = KernelWorkElsewhere(self.other_cpus, self.workroot)
        sb.log("starting rspamd (normal + milter proxy worker) and clamd")
        self.rspamd = RspamdWithMilter(self.edir).start()
        if self.clamd_tmp_parent:
            # clamd spools every stream to a file in its TemporaryDirectory: on another
            # filesystem than the systems' spools, or it shares their fsyncs' journal.
            self.tmp = tempfile.mkdtemp(prefix="clamd-tmp-", dir=self.clamd_tmp_parent)
            os.chmod(self.tmp, 0o777)
            os.makedirs(os.path.join(self.edir, "clamd"))
            os.symlink(self.tmp, os.path.join(self.edir, "clamd", "tmp"))
        self.clamd = fx.Clamd(self.edir).start()
        self.groups.rspamd.adopt(fx._group_members(self.rspamd.proc.pid))
        self.groups.clamd.adopt(fx._group_members(self.clamd.proc.pid))
        return self

    def pin(self):
        """Every engine process so far (clamav-milter too, in groups.clamd) onto its CPUs."""
        if self.cpus:
            pin_tasks(self.groups.rspamd.pids() + self.groups.clamd.pids(), self.cpus)
            sb.log(f"engines on CPUs {sorted(self.cpus)}, everything else on "
                   f"{sorted(self.other_cpus)}")

    def warm(self, pool, clients, body, n):
        # rspamd gets faster as it runs (session 11: 2.1 ms per message in the first rounds,
        # 1.3-1.6 after some 40,000 messages, under either load): without a warm-up the first
        # rounds measure a cold engine, and unequally (the direct load comes first in each
        # round). Not measured; before the CPU budget, so it is quick.
        t = time.time()
        w = run_direct("both", pool, clients, self.rspamd, self.clamd, self.groups, body, n)
        sb.log(f"engine warm-up: {n} messages to both engines in {time.time() - t:.0f} s "
               f"(rspamd {w['rspamd_cpu_ms_per_msg']:.2f} ms/msg, "
               f"clamd {w['clamd_cpu_ms_per_msg']:.2f}; not measured)")
        if w["bad"]:
            raise RuntimeError(f"engine warm-up: {w['bad']} requests failed")

    def cap(self, cores):
        if cores > 0:
            self.budget = CpuBudget(cores)
            self.budget.adopt(self.groups.rspamd.pids() + self.groups.clamd.pids())
            sb.log(f"engines capped at {cores} cores together ({self.budget.path})")

    def close(self, keep=False):
        if self.budget:
            self.budget.close()
        for e in (self.clamd, self.rspamd):
            if e:
                e.close()
        self.groups.close()
        if self.kernel_work:
            self.kernel_work.close()
        if not keep:
            shutil.rmtree(self.edir, ignore_errors=True)
        if self.tmp:  # on /dev/shm: gone only when removed
            shutil.rmtree(self.tmp, ignore_errors=True)


def run_direct(what, pool, clients, rspamd, clamd, groups, body, n):
    """N messages to `what` (rspamd | clamd | both) from `clients` parallel processes."""
    per = [n // clients + (1 if k < n % clients else 0) for k in range(clients)]
    # Message numbers never repeat within a benchmark (each run and client its own range).
    run = next(_RUNS) * 1000
    pool.map(_client, [(what, rspamd.port, clamd.port, body, 5, (run + k) * 1_000_000)
                       for k in range(clients)])  # warm, connect
    run = next(_RUNS) * 1000
    jobs = [(what, rspamd.port, clamd.port, body, c, (run + k) * 1_000_000)
            for k, c in enumerate(per)]
    cpu0, g0 = sb.cpu_snap(), groups.snap()
    t0 = time.time()
    bad = sum(pool.map(_client, jobs, chunksize=1))
    dt = time.time() - t0
    cpu1 = sb.cpu_snap()
    r = {"system": f"{what}-direct", "size": len(body), "clients": clients, "n": n,
         "msgs_per_s": n / dt,
         "machine_cpu_ms_per_msg": 1000.0 * (cpu1[0] - cpu0[0]) / sb.HZ / n,
         "machine_busy_pct": 100.0 * (cpu1[0] - cpu0[0]) / max(1, cpu1[1] - cpu0[1]),
         "bad": bad, "status": "ok" if bad == 0 else "FAILED", "load_avg": os.getloadavg()[0]}
    r.update(groups.figures(g0, n))
    return r


# --------------------------------------------------------------------------------------------
# The systems, with scanning on
# --------------------------------------------------------------------------------------------

def scanning_systems(rspamd, clamd, milter, concurrency):
    """sidebyside's Tidegate and Postfix, configured to scan with our engines."""

    class ScanningTidegate(sb.Tidegate):
        extra_yaml = (f"anti_spam: {{url: 'http://127.0.0.1:{rspamd.port}', timeout: 15s, "
                      f"max_concurrency: {concurrency}, retry_delay: 5s}}\n"
                      f"anti_virus: {{address: '127.0.0.1:{clamd.port}', timeout: 30s, "
                      f"max_concurrency: {concurrency}, retry_delay: 5s}}\n")
        default_policy_yaml = ("    anti_spam: {positive: quarantine, suspect: tag}\n"
                               "    anti_virus: {infected: drop, unscannable: tag}\n")

        def check(self, expected):
            out = super().check(expected)
            text = self.mail_log()
            out.update({"scanned_spam": text.count("using engine: RSPAMD spam"),
                        "scanned_virus": text.count("antivirus negative"),
                        "scan_failed": text.count("scan failed:")})
            return out

    class MilterPostfix(sb.Postfix):
        # rspamd's documented Postfix setup; a milter that fails tempfails the message (never
        # delivered unscanned, as tidegate).
        extra_main_cf = (f"smtpd_milters = inet:127.0.0.1:{rspamd.milter_port}, "
                         f"inet:127.0.0.1:{milter.port}\n"
                         "milter_default_action = tempfail\n"
                         "milter_protocol = 6\n"
                         "milter_mail_macros = i {mail_addr} {client_addr} {client_name} "
                         "{auth_authen}\n") if milter else ""

        def check(self, expected):
            out = super().check(expected)
            out["milter_warnings"] = sum(1 for line in self.mail_log().splitlines()
                                         if "milter" in line and "warning" in line)
            return out

    return ScanningTidegate, MilterPostfix


FIELDS = sb.FIELDS + [
    ("rspamd_cpu_ms_per_msg", "CPU ms/msg rspamd (outside the system)", "{:.2f}"),
    ("clamd_cpu_ms_per_msg", "CPU ms/msg clamd (+ clamav-milter; outside)", "{:.2f}"),
    ("rspamd_sys_ms_per_msg", "of which rspamd in the kernel", "{:.2f}"),
    ("rspamd_preempted_per_msg", "rspamd preempted, times per message", "{:.2f}"),
    ("load_avg", "load average (1 min) after the run", "{:.1f}")]


def med(rows, key):
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else float("nan")


def cell(rows, key, fmt="{:.0f}"):
    vals = [r[key] for r in rows if key in r]
    if not vals:
        return "–"
    text = fmt.format(statistics.median(vals))
    if len(vals) > 1:
        text += f" ({fmt.format(min(vals))}–{fmt.format(max(vals))})"
    return text


def summarize(results):
    systems = [r for r in results if not r["system"].endswith("-direct")]
    out = [sb.summarize(systems, FIELDS)]
    direct = {w: [r for r in results if r["system"] == f"{w}-direct" and r["status"] == "ok"]
              for w in ("rspamd", "clamd", "both")}
    clients = max((r["clients"] for r in results if "clients" in r), default=0)
    out.append(f"\n### The engines alone: direct load on their protocols, {clients} clients\n")
    out.append("| engine | msg/s | rspamd CPU ms/msg (cores) | clamd CPU ms/msg (cores) | "
               "load generator CPU ms/msg (cores) | machine busy % | load avg |")
    out.append("|---|---|---|---|---|---|---|")
    cap = {}
    for w, label in (("rspamd", "rspamd /checkv2"), ("clamd", "clamd zINSTREAM (sessions)"),
                     ("both", "both, one after the other per message")):
        rows = direct[w]
        cap[w] = med(rows, "msgs_per_s")
        groups = " | ".join(f"{med(rows, g + '_cpu_ms_per_msg'):.2f} ({med(rows, g + '_cores'):.2f})"
                            for g in ("rspamd", "clamd", "loadgen"))
        out.append(f"| {label} | {cell(rows, 'msgs_per_s')} | {groups} | "
                   f"{med(rows, 'machine_busy_pct'):.0f} | "
                   + ", ".join(f"{r['load_avg']:.1f}" for r in rows) + " |")
    series = 1.0 / (1.0 / cap["rspamd"] + 1.0 / cap["clamd"])
    slower = min(cap["rspamd"], cap["clamd"])
    out.append("\n### End to end against the engines' capacity (medians)\n")
    out.append("| system | e2e msg/s | / slower engine alone | / both engines, measured | "
               "/ 1/(1/R+1/C) |")
    out.append("|---|---|---|---|---|")
    for s in ("tidegate", "postfix"):
        e2e = med([r for r in systems if r["system"] == s and r["status"] == "ok"],
                  "e2e_msgs_per_s")
        out.append(f"| {s} | {e2e:.0f} | {100 * e2e / slower:.0f} % of {slower:.0f} | "
                   f"{100 * e2e / cap['both']:.0f} % of {cap['both']:.0f} | "
                   f"{100 * e2e / series:.0f} % of {series:.0f} |")
    out.append("\n### Paired: each run against the \"both\" run just before it\n")
    out.append("The engines' speed drifts by up to a quarter between runs minutes apart on this "
               "shared machine; the direct \"both\" run just before each system's run measures "
               "the engines of that minute. The median of these ratios is the benchmark's figure "
               "for issue 16's target.\n")
    out.append("| round | system | both msg/s just before | e2e msg/s | ratio | "
               "rspamd ms/msg both / e2e |")
    out.append("|---|---|---|---|---|---|")
    ratios = {"tidegate": [], "postfix": []}
    for r in direct["both"]:
        name = r.get("before")
        runs = [x for x in systems if x["system"] == name and x["status"] == "ok"
                and x.get("round") == r.get("round")]
        if name not in ratios or not runs:
            continue
        e2e = runs[0]
        ratios[name].append(e2e["e2e_msgs_per_s"] / r["msgs_per_s"])
        out.append(f"| {r['round']} | {name} | {r['msgs_per_s']:.0f} | "
                   f"{e2e['e2e_msgs_per_s']:.0f} | {100 * ratios[name][-1]:.0f} % | "
                   f"{r.get('rspamd_cpu_ms_per_msg', float('nan')):.2f} / "
                   f"{e2e.get('rspamd_cpu_ms_per_msg', float('nan')):.2f} |")
    for name, values in ratios.items():
        if values:
            out.append(f"| median | {name} | | | **{100 * statistics.median(values):.0f} %** "
                       f"({100 * min(values):.0f}–{100 * max(values):.0f}) | |")
    return "\n".join(out)


def unscanned(results):
    """Runs in which some message was not scanned by both engines (or a scan failed)."""
    bad = []
    for r in results:
        if r["system"] == "tidegate" and r["status"] == "ok" and (
                r.get("scan_failed") or r.get("scanned_spam", 0) < r["expected"]
                or r.get("scanned_virus", 0) < r["expected"]):
            bad.append(r)
        if r["system"] == "postfix" and r["status"] == "ok" and (
                r.get("milter_warnings") or r.get("rspamd_tasks", 0) < r["expected"]
                or r.get("clamav_milter_scans", 0) < r["expected"]):
            bad.append(r)
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sb.common_args(ap)
    ap.add_argument("-n", type=int, default=2000, help="messages per timed run (each system)")
    ap.add_argument("--direct-n", type=int, default=2000,
                    help="messages per direct engine run")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--sessions", type=int, default=20,
                    help="smtp-source sessions, direct-load clients, and both engines' "
                         "max_concurrency in tidegate")
    ap.add_argument("--systems", default="tidegate,postfix")
    ap.add_argument("--clamd-tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else "",
                    help="a folder for clamd's temporary files (it spools every stream to one): "
                         "default /dev/shm (tmpfs), off the systems' spool filesystem; '': the "
                         "benchmark's work folder")
    ap.add_argument("--engine-cpus", type=float, default=0.0,
                    help="cap the engines together at this many cores (CFS quota) in every run, "
                         "direct and end to end; 0: no cap")
    ap.add_argument("--engine-warmup", type=int, default=20000,
                    help="messages sent to both engines before the first round, not measured "
                         "(rspamd gets faster as it runs); 0: none")
    ap.add_argument("--engine-cpu-list", default="",
                    help="run the engines (both rspamd workers, clamd, clamav-milter) on these "
                         "CPUs only (e.g. '1') and everything else (the systems, the load rig, "
                         "the direct load generator) on the others, in every run; 'auto': the "
                         "last CPU that takes none of the spool disk's interrupts "
                         "(engine_cpus_for); '': no pinning")
    ap.add_argument("--perf", default="",
                    help="a folder: profile every CPU with perf over each \"both\" run and each "
                         "system's timed window (PerfRecorder)")
    args = ap.parse_args()
    if not os.access(CLAMAV_MILTER, os.X_OK) and "postfix" in args.systems:
        sys.exit(f"scanning.py: missing {CLAMAV_MILTER} (make deps: clamav-milter)")
    out, workroot, tls_dir = sb.prepare(args, "scanning.py")
    rig = EngineRig(workroot, args.engine_cpu_list, args.clamd_tmp)
    args.engine_cpu_list = rig.cpu_list
    groups = rig.groups
    milter = pool = perf = None
    try:
        rspamd, clamd = rig.start().rspamd, rig.clamd
        if "postfix" in args.systems:
            milter = ClamavMilter(rig.edir, clamd.port, groups.clamd)
        rig.pin()
        body = direct_body(args.size, workroot)
        pool = multiprocessing.get_context("fork").Pool(args.sessions, _join_cgroup,
                                                        (groups.loadgen,))
        if args.engine_warmup:
            rig.warm(pool, args.sessions, body, args.engine_warmup)
        rig.cap(args.engine_cpus)
        sb.log(f"rspamd :{rspamd.port} (milter :{rspamd.milter_port}) clamd :{clamd.port}"
               + (f" clamav-milter :{milter.port}" if milter else ""))
        tide, post = scanning_systems(rspamd, clamd, milter, args.sessions)
        order = [{"tidegate": tide, "postfix": post}[s] for s in args.systems.split(",")]

        perf = PerfRecorder(args.perf) if args.perf else None

        def direct(rnd, what, before=None):
            if perf and what == "both":
                perf.start(f"r{rnd + 1}-both-before-{before}")
            r = run_direct(what, pool, args.sessions, rspamd, clamd, groups, body,
                           args.direct_n)
            if perf:
                perf.stop()
            r["round"] = rnd + 1
            r["engine_cpus"] = args.engine_cpus
            r["engine_cpu_list"] = args.engine_cpu_list
            if before:
                r["before"] = before
            sb.log(f"round {rnd + 1} direct {what}: " + " ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
            return r

        def before_round(rnd):
            return [direct(rnd, what) for what in ("rspamd", "clamd")]

        running = {"label": ""}

        def before_system(rnd, name):
            running["label"] = f"r{rnd + 1}-{name}"
            # "both" just before each system's run, so that each end-to-end figure has the
            # engines' capacity of the same minute beside it (session 12: a system that ran
            # after the other system's run, minutes after the round's only "both", was compared
            # with engines that had since slowed down or sped up by up to 25 %).
            return [direct(rnd, "both", before=name)]

        window = {}

        def on_window(edge):
            window[edge] = groups.snap()
            if perf and edge == "start":
                perf.start(running["label"])
            elif perf:
                perf.stop()

        def before_run():
            window.clear()
            return (rspamd.tasks(), milter.scans() if milter else 0)

        def after_run(r, token):
            tasks0, scans0 = token
            # The engines' CPU over the timed window only (the system's own CPU is measured over
            # the same window), per message of the window (smtp-source's and the probe's). Until
            # session 11 it covered the whole run (start-up, warm-up, settle, checks) divided by
            # every message scanned, which charged the engines' idle CPU to the messages.
            if "start" in window and "end" in window:
                figures = groups.figures(window["start"], r.get("expected", 0),
                                         now=window["end"])
                r.update({k: v for k, v in figures.items()
                          if not k.endswith("_cores") and not k.startswith("loadgen")})
            r["rspamd_tasks"] = rspamd.tasks() - tasks0 - args.warmup
            if milter and r["system"] == "postfix":
                r["clamav_milter_scans"] = milter.scans() - scans0 - args.warmup
            r["load_avg"] = os.getloadavg()[0]
            r["engine_cpus"] = args.engine_cpus
            r["engine_cpu_list"] = args.engine_cpu_list

        results = sb.run_rounds(args, [(args.size, args.sessions, args.n)], order, tls_dir,
                                workroot, out, before_round, before_run, after_run, on_window,
                                before_system)
    finally:
        if pool:
            pool.terminate()
        if milter:
            milter.stop()
        if perf:
            perf.stop()
        rig.close(args.keep)
    rc = sb.finish(out, results, summarize(results))
    bad = unscanned(results)
    for r in bad:
        print(f"NOT SCANNED: {r}", file=sys.stderr)
    return 1 if bad or any(r["status"] != "ok" for r in results) else rc


if __name__ == "__main__":
    sys.exit(main())
