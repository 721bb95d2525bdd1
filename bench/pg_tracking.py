#!/usr/bin/env python3
"""pg_tracking.py — the main point with message tracking in PostgreSQL (issue 18, CONTRACT §11).

    smtp-source --SMTP--> tidegate --> smtp-sink + bench-sink (journal, TLS), as bench/sidebyside.py
                             |
                             +--tracking--> on-disk buffer --batches--> PostgreSQL (tests/e2e/postgres.py)

Two configurations of tidegate on sidebyside.py's main point (4 KB, 20 smtp-source sessions, the
probe, both sinks, the warm-up, the checks), alternating their order per round:
- `tidegate`: tracking in SQLite (the default; the reference figure);
- `pg-tracking`: `tracking.backend: postgresql` with a private PostgreSQL 15 (fsync off, as a
  test instance) on 127.0.0.1, machine name = the gateway's host name.
PostgreSQL runs outside the system's cgroup (its CPU is reported beside it). Each pg-tracking
run checks that PostgreSQL received the run's events (tracking_events rows grew by at least one
per message). The issue's target: pg-tracking throughput >= 90 % of tidegate's.

See docs/PERFORMANCE.md ("PostgreSQL tracking (issue 18)"). Needs root (cgroups).
"""
import argparse
import os
import shutil
import sys

import sidebyside as sb
from scanning import cell, med

from postgres import Postgres  # tests/e2e, on the path through sidebyside


def systems(pg):
    class PgTracking(sb.Tidegate):
        name = "pg-tracking"
        # No cluster section: tracking is tagged with the host name, and no etcd is involved.
        extra_yaml = ("tracking:\n  backend: postgresql\n"
                      f"  postgresql: {{conninfo: \"{pg.conninfo}\", "
                      f"password_file: {pg.password_file}}}\n")
    return [sb.Tidegate, PgTracking]


def summarize(results):
    names = ["tidegate", "pg-tracking"]
    rows = {n: [r for r in results if r["system"] == n and r["status"] == "ok"] for n in names}

    out = ["| figure | " + " | ".join(names) + " | pg / sqlite |", "|---|---|---|---|"]
    for key, label, fmt in sb.FIELDS + [("pg_events", "PostgreSQL event rows per run", "{:.0f}"),
                                        ("pg_cpu_ms_per_msg", "PostgreSQL CPU ms/msg", "{:.3f}")]:
        base = med(rows["tidegate"], key)
        ratio = f"{med(rows['pg-tracking'], key) / base:.2f}" if base == base and base else "–"
        out.append(f"| {label} | " + " | ".join(cell(rows[n], key, fmt) for n in names)
                   + f" | {ratio} |")
    return "\n".join(out)


def event_rows(pg):
    try:
        return int(pg.sql("SELECT count(*) FROM tracking_events")[0][0])
    except RuntimeError:  # no table before the first pg-tracking run
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sb.common_args(ap)
    ap.add_argument("-n", type=int, default=20000, help="messages per timed run")
    args = ap.parse_args()
    out, workroot, tls_dir = sb.prepare(args, "pg_tracking.py")
    pdir = os.path.join(workroot, "pg")
    os.makedirs(pdir)
    cg = sb.Cgroup(f"bench-postgres-{os.getpid()}")
    pg = Postgres(pdir)
    pg.start()
    cg.adopt([pg.pid])
    try:
        def before_run():
            return event_rows(pg), cg.cpu_ns()

        def after_run(r, token):
            rows0, cpu0 = token
            r["pg_events"] = event_rows(pg) - rows0
            total = r.get("expected", 0) + args.warmup
            r["pg_cpu_ms_per_msg"] = (cg.cpu_ns() - cpu0) / 1e6 / max(1, total)
            if r["system"] == "pg-tracking" and r["status"] == "ok" and r["pg_events"] < total:
                r["status"] = "FAILED"
                r["error"] = f"only {r['pg_events']} event rows for {total} messages"

        results = sb.run_rounds(args, [(4096, 20, args.n)], systems(pg), tls_dir, workroot, out,
                                before_run=before_run, after_run=after_run)
    finally:
        pg.close()
        cg.kill_all()
        cg.remove()
        if not args.keep:
            shutil.rmtree(pdir, ignore_errors=True)
    return sb.finish(out, results, summarize(results))


if __name__ == "__main__":
    sys.exit(main())
