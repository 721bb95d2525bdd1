#!/usr/bin/env python3
"""engine_neighbour.py — how much of the engines' capacity work on the other CPUs takes (issue 16).

bench/scanning.py compares tidegate's end-to-end throughput with the engines' capacity under a
direct load ("both": rspamd then clamd per message, 20 clients). The engines run on one CPU with
half of it (--engine-cpus 0.5 --engine-cpu-list), everything else on the other. Under the direct
load that other CPU is mostly idle; in the end-to-end run it carries the gateway and the load
rig. This measures what that alone does to the engines: the same direct "both" load, alternately

- idle:       nothing else running (as in scanning.py's "both" runs);
- relay:      tidegate beside it, with scanning off (journaling on, as in sidebyside.py),
              relaying smtp-source's messages at about --rate per second (`-s RATE -w 1`) to
              smtp-sink and bench-sink: the gateway's work without the engines;
- memory:     a process copying two --memory-mb buffers into each other, without pause
              (nice 19, so the load generator still gets its CPU when it needs it): memory traffic
              only, no network and no disk.

Each round runs idle and the neighbour in alternating order (the engines' speed drifts on this
shared machine); the figure is the median of the per-round ratios neighbour / idle, beside the
interrupts the engines' CPUs took per message (/proc/interrupts). Session 14:
see docs/PERFORMANCE.md ("Session 14"). Needs root (cgroups, global kernel settings).
"""
import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import sidebyside as sb
import scanning as sc

MEMORY_BURNER = """
import sys
n = int(sys.argv[1]) << 20
a, b = bytearray(b"\\1" * n), bytearray(n)
while True:
    b[:] = a
    a[:] = b
"""


def interrupts(cpus):
    """{name: count} of the hardware interrupts and IPIs taken on `cpus` so far
    (`virtio1-req.0`, `CAL`, ...)."""
    out = {}
    for _, name, counts in sc.proc_interrupts():
        out[name] = out.get(name, 0) + sum(counts.get(c, 0) for c in cpus)
    return out


def busiest_interrupts(before, after, n, top=4):
    """The sources that interrupted the engines' CPUs most, per message."""
    per = {k: (after.get(k, 0) - before.get(k, 0)) / max(1, n) for k in after}
    return dict(sorted(((k, round(v, 3)) for k, v in per.items() if v > 0),
                       key=lambda kv: -kv[1])[:top])


class Relay:
    """tidegate relaying (no scanning) from smtp-source at about `rate` messages a second."""

    def __init__(self, workroot, tls_dir, rate):
        self.rate = rate
        self.dir = tempfile.mkdtemp(prefix="relay-", dir=workroot)
        os.chmod(self.dir, 0o755)
        self.cg = sb.Cgroup(f"bench-neighbour-{os.getpid()}")
        self.next = sb.Sink(self.dir, "sink-next")
        self.journal = sb.Sink(self.dir, "sink-journal", tls_dir=tls_dir)
        self.gateway = sb.Tidegate(self.dir, sb.free_port(), self.next.port, self.journal.port,
                                   tls_dir, self.cg)
        self.source = None
        self.count0 = self.t0 = 0

    def start(self):
        self.source = subprocess.Popen(
            [sb.SMTP_SOURCE, "-4", "-s", str(self.rate), "-w", "1", "-m", "100000000",
             "-l", "4096", "-f", "sender@bench.local", "-t", "user@example.com",
             "-M", "client.bench.local", f"127.0.0.1:{self.gateway.port_in}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)  # every session connected and sending
        self.count0, self.t0 = self.next.count(), time.time()

    def stop(self):
        """Messages a second the next hop got since start()."""
        rate = (self.next.count() - self.count0) / max(1e-9, time.time() - self.t0)
        self.source.kill()
        self.source.wait()
        self.source = None
        time.sleep(2)  # the queue drains before the next idle run
        return rate

    def close(self):
        if self.source:
            self.source.kill()
            self.source.wait()
        self.gateway.stop()
        for sink in (self.next, self.journal):
            sink.stop()
        self.cg.kill_all()
        self.cg.remove()


class Memory:
    def __init__(self, mb):
        self.mb = mb
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", MEMORY_BURNER,
                                      str(self.mb)])
        time.sleep(1)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        return 0.0

    def close(self):
        if self.proc:
            self.stop()


def summarize(results, neighbour):
    rounds = sorted({r["round"] for r in results})
    lines = [f"## The engines' capacity (direct \"both\"), CPU 0 idle and with a {neighbour} "
             "neighbour", "",
             "| round | idle msg/s | neighbour msg/s | neighbour / idle | rspamd ms/msg idle / "
             "neighbour | interrupts on the engines' CPUs per msg, idle / neighbour | "
             "relay msg/s |", "|---|---|---|---|---|---|---|"]
    ratios = []
    for rnd in rounds:
        by = {r["mode"]: r for r in results if r["round"] == rnd}
        if "idle" not in by or neighbour not in by:
            continue
        a, b = by["idle"], by[neighbour]
        ratios.append(b["msgs_per_s"] / a["msgs_per_s"])
        lines.append(f"| {rnd} | {a['msgs_per_s']:.0f} | {b['msgs_per_s']:.0f} | "
                     f"{100 * ratios[-1]:.0f} % | {a['rspamd_cpu_ms_per_msg']:.2f} / "
                     f"{b['rspamd_cpu_ms_per_msg']:.2f} | "
                     f"{a['engine_cpu_interrupts_per_msg']:.1f} / "
                     f"{b['engine_cpu_interrupts_per_msg']:.1f} | "
                     f"{b.get('relay_msgs_per_s', 0):.0f} |")
    if ratios:
        lines.append(f"| median | | | **{100 * statistics.median(ratios):.0f} %** "
                     f"({100 * min(ratios):.0f}–{100 * max(ratios):.0f}) | | | |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neighbour", choices=["relay", "memory"], default="relay")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--direct-n", type=int, default=2000, help="messages per direct run")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rate", type=int, default=190,
                    help="relay: smtp-source sessions, each sending one message a second")
    ap.add_argument("--memory-mb", type=int, default=16, help="memory: each buffer's size")
    ap.add_argument("--engine-warmup", type=int, default=20000)
    ap.add_argument("--engine-cpus", type=float, default=0.5)
    ap.add_argument("--engine-cpu-list", default="auto",
                    help="as scanning.py's: 'auto' (off the spool disk's interrupts), a list, "
                         "or '': no pinning")
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    out, workroot, tls_dir = sb.prepare(args, "engine_neighbour.py")
    rig = sc.EngineRig(workroot, args.engine_cpu_list, "/dev/shm" if os.path.isdir("/dev/shm")
                       else "")  # clamd's temporary files, as scanning.py's --clamd-tmp
    args.engine_cpu_list = rig.cpu_list
    engine_cpus = rig.cpus or set(os.sched_getaffinity(0))
    groups = rig.groups
    pool = neighbour = None
    results = []
    try:
        rspamd, clamd = rig.start().rspamd, rig.clamd
        rig.pin()
        body = sc.direct_body(4096, workroot)
        pool = multiprocessing.get_context("fork").Pool(args.clients, sc._join_cgroup,
                                                        (groups.loadgen,))
        if args.engine_warmup:
            rig.warm(pool, args.clients, body, args.engine_warmup)
        rig.cap(args.engine_cpus)
        neighbour = (Relay(workroot, tls_dir, args.rate) if args.neighbour == "relay"
                     else Memory(args.memory_mb))
        with open(os.path.join(out, "results.jsonl"), "a") as jl:
            for rnd in range(args.rounds):
                modes = ["idle", args.neighbour]
                for mode in modes if rnd % 2 == 0 else modes[::-1]:
                    if mode != "idle":
                        neighbour.start()
                    irq0 = interrupts(engine_cpus)
                    r = sc.run_direct("both", pool, args.clients, rspamd, clamd, groups, body,
                                      args.direct_n)
                    irq1 = interrupts(engine_cpus)
                    r["engine_cpu_interrupts_per_msg"] = (
                        sum(irq1.values()) - sum(irq0.values())) / args.direct_n
                    r["engine_cpu_interrupts_top"] = busiest_interrupts(irq0, irq1, args.direct_n)
                    if mode != "idle":
                        r["relay_msgs_per_s"] = neighbour.stop()
                        if args.neighbour == "relay" and r["relay_msgs_per_s"] <= 0:
                            r["status"] = "FAILED"  # the neighbour did not run
                    r.update({"round": rnd + 1, "mode": mode, "engine_cpus": args.engine_cpus,
                              "engine_cpu_list": args.engine_cpu_list})
                    sb.log(f"round {rnd + 1} {mode}: {r['msgs_per_s']:.0f} msg/s, rspamd "
                           f"{r['rspamd_cpu_ms_per_msg']:.2f} ms/msg")
                    results.append(r)
                    jl.write(json.dumps(r) + "\n")
    finally:
        if pool:
            pool.terminate()
        if neighbour:
            neighbour.close()
        rig.close(args.keep)
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
    return sb.finish(out, results, summarize(results, args.neighbour))


if __name__ == "__main__":
    sys.exit(main())
