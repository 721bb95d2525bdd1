#!/usr/bin/env python3
"""validation.py — the main point with recipient validation on (issue 17, CONTRACT §13).

    smtp-source --SMTP--> tidegate --RCPT--> LDAP accept query --> slapd (tests/e2e/slapd.py)
                             |
                             +--> smtp-sink + bench-sink (journal, TLS), as bench/sidebyside.py

Three configurations of tidegate on sidebyside.py's main point (4 KB, 20 smtp-source sessions,
the probe, both sinks, the warm-up, the checks), alternating their order per round:
- `tidegate`: no recipient validation (the reference figure);
- `ldap-warm`: LDAP validation of example.com with the answer cache on (`cache_ttl: 10m`): the
  warm-up's first RCPT asks slapd, every later one is answered from the cache;
- `ldap-cold`: the same with `cache_ttl: 0s`: every RCPT (each message's and each probe's) is a
  search in slapd.
slapd runs outside the system's cgroup (its CPU is reported beside it), with the recipient
`user@example.com` that smtp-source and the probe send to. Each run checks that slapd was
actually asked (cold: one search per RCPT at least; warm: a handful) and that no RCPT was
refused. Medians and the ratios to `tidegate` are printed and written to --out.

See docs/PERFORMANCE.md ("Recipient validation (issue 17)"). Needs root (cgroups).
"""
import argparse
import os
import shutil
import statistics
import sys

import sidebyside as sb

from slapd import Slapd  # tests/e2e, on the path through sidebyside


def systems(slapd):
    def validated(name, ttl):
        class Validated(sb.Tidegate):
            extra_yaml = ("recipient_validation:\n"
                          f"  cache_ttl: {ttl}\n"
                          "  ldap:\n"
                          f"    uri: {slapd.uri}\n"
                          f"    base: {slapd.base}\n"
                          f"    bind_dn: {slapd.bind_dn}\n"
                          f"    password_file: {slapd.password_file}\n"
                          "    timeout: 5s\n")

            def check(self, expected):
                out = super().check(expected)
                text = self.mail_log()
                out["rcpt_rejected"] = text.count("rejected RCPT")
                out["rcpt_deferred"] = text.count("deferred RCPT")
                return out
        Validated.name = name
        return Validated
    return [sb.Tidegate, validated("ldap-warm", "10m"), validated("ldap-cold", "0s")]


def summarize(results):
    names = ["tidegate", "ldap-warm", "ldap-cold"]
    rows = {n: [r for r in results if r["system"] == n and r["status"] == "ok"] for n in names}

    def med(n, key):
        vals = [r[key] for r in rows[n] if key in r]
        return statistics.median(vals) if vals else float("nan")

    def cell(n, key, fmt):
        vals = [r[key] for r in rows[n] if key in r]
        if not vals:
            return "–"
        text = fmt.format(statistics.median(vals))
        return text + (f" ({fmt.format(min(vals))}–{fmt.format(max(vals))})" if len(vals) > 1
                       else "")

    out = ["| figure | " + " | ".join(names) + " | warm / none | cold / none |",
           "|---|---|---|---|---|---|"]
    for key, label, fmt in sb.FIELDS + [("slapd_searches", "slapd searches per run", "{:.0f}"),
                                        ("slapd_cpu_ms_per_msg", "slapd CPU ms/msg", "{:.3f}")]:
        base = med("tidegate", key)
        ratios = " | ".join(f"{med(n, key) / base:.2f}" if base == base and base else "–"
                            for n in ("ldap-warm", "ldap-cold"))
        out.append(f"| {label} | " + " | ".join(cell(n, key, fmt) for n in names)
                   + f" | {ratios} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sb.common_args(ap)
    ap.add_argument("-n", type=int, default=20000, help="messages per timed run")
    args = ap.parse_args()
    out, workroot, tls_dir = sb.prepare(args, "validation.py")
    ldir = os.path.join(workroot, "ldap")
    os.makedirs(ldir)
    cg = sb.Cgroup(f"bench-slapd-{os.getpid()}")
    slapd = Slapd(ldir, users={"user": ("user@example.com", [])})
    slapd.start()
    cg.adopt([slapd.pid])
    try:
        order = systems(slapd)
        state = {}

        def before_run():
            return slapd.searches(), cg.cpu_ns()

        def after_run(r, token):
            searches0, cpu0 = token
            r["slapd_searches"] = slapd.searches() - searches0
            total = r.get("expected", 0) + args.warmup
            r["slapd_cpu_ms_per_msg"] = (cg.cpu_ns() - cpu0) / 1e6 / max(1, total)
            bad = r.get("rcpt_rejected", 0) + r.get("rcpt_deferred", 0)
            if r["system"] == "ldap-cold" and r["slapd_searches"] < total:
                bad += 1
            if r["system"] == "ldap-warm" and not 1 <= r["slapd_searches"] <= 20:
                bad += 1
            if r["system"] == "tidegate" and r["slapd_searches"]:
                bad += 1
            if bad and r["status"] == "ok":
                r["status"] = "FAILED"
                r["error"] = "validation not as configured (searches, refusals)"
            state["last"] = r

        results = sb.run_rounds(args, [(4096, 20, args.n)], order, tls_dir, workroot, out,
                                before_run=before_run, after_run=after_run)
    finally:
        slapd.close()
        cg.kill_all()
        cg.remove()
        if not args.keep:
            shutil.rmtree(ldir, ignore_errors=True)
    return sb.finish(out, results, summarize(results))


if __name__ == "__main__":
    sys.exit(main())
