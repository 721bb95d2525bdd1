"""kill -9 loop (issue 9, crash and disk faults): 20 random SIGKILLs of the gateway under steady
load from several concurrent senders, with a next hop and a TLS intake running; after each kill
the gateway restarts on the same data_dir. After a final drain, every message that got a 250 has
been delivered to the next hop at least once for each of its recipients, and journaled per policy:
one copy reached the right intake address for each of its policy groups that journals (DEFAULT and
Support: intake A, Sales: custom intake B, Legal: none). Duplicates are counted and printed (a
kill between the next hop's 250 and our durable "delivered" record must resend: at least once).

Messages are identified by a Message-ID we generate (<k9-N@sender.test>); the journal report's
text part names the policy's recipients, which tells which group a copy belongs to."""
import random
import re
import smtplib
import tempfile
import threading
import time
from collections import Counter

from peers import Sink
from tdc_fixtures import A, B, intake_certs, parse_journal, tdc_gateway

KILLS = 20
SENDERS = 6
SEED = int(time.time()) % 100000
# category → (recipient template, intake address its policy journals to, or None)
CATEGORIES = {
    "default": ("u{n}@example.com", A),
    "sales": ("s{n}@sales.example.com", B),
    "legal": ("l{n}@legal.example.com", None),
    "support": ("p{n}@support.example.com", A),
}
MID_RE = re.compile(rb"<k9-(\d+)@sender\.test>")


def recipients_for(n):
    rnd = random.Random(SEED * 1000003 + n)
    cats = rnd.sample(sorted(CATEGORIES), rnd.randint(1, 3))
    return [CATEGORIES[c][0].format(n=n) for c in cats]


def intake_for(rcpt):
    for template, intake in CATEGORIES.values():
        if rcpt.split("@")[1] == template.split("@")[1]:
            return intake
    raise AssertionError(rcpt)


class Load:
    """SENDERS threads, each sending one message per connection until stopped. A message counts as
    acknowledged only once smtplib saw its 250; refused connections (gateway down) are retried."""

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.next_n = 0
        self.acked = {}       # n → recipients
        self.in_doubt = 0     # sent, but the connection died before the reply
        self.refused = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(SENDERS)]

    def run(self):
        while not self.stop.is_set():
            with self.lock:
                n = self.next_n
                self.next_n += 1
            rcpts = recipients_for(n)
            msg = (f"From: alice@sender.test\r\nSubject: k9 {n}\r\n"
                   f"Message-ID: <k9-{n}@sender.test>\r\n\r\nbody of {n}\r\n" + "x" * (n % 900))
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
                    s.sendmail("alice@sender.test", rcpts, msg)
                with self.lock:
                    self.acked[n] = rcpts
            except ConnectionRefusedError:
                with self.lock:
                    self.refused += 1
                time.sleep(0.02)
            except (smtplib.SMTPException, OSError):
                with self.lock:
                    self.in_doubt += 1
            time.sleep(0.01)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def delivered(next_hop):
    """Counter of (n, recipient) deliveries seen by the next hop."""
    got = Counter()
    with next_hop.lock:
        messages = list(next_hop.messages)
    for m in messages:
        found = MID_RE.search(m.data)
        assert found, m.data[:300]
        for rcpt in m.rcpt_tos:
            got[(int(found.group(1)), rcpt)] += 1
    return got


def journaled(intake):
    """Counter of (n, intake address, recipients in the report) copies seen by the intake."""
    got = Counter()
    with intake.lock:
        copies = list(intake.messages)
    for c in copies:
        assert c.tls_version in ("TLSv1.2", "TLSv1.3"), "a journal copy travelled in clear"
        text, original = parse_journal(c.data)
        found = MID_RE.search(original)
        assert found, text
        to = tuple(sorted(re.findall(r"(?m)^To: (.*?)\r?$", text)))
        got[(int(found.group(1)), c.rcpt_tos[0], to)] += 1
    return got


def expected(acked):
    deliveries, copies = set(), set()
    for n, rcpts in acked.items():
        groups = {}
        for r in rcpts:
            deliveries.add((n, r))
            groups.setdefault(r.split("@")[1], []).append(r)
        for domain, members in groups.items():
            intake = intake_for(members[0])
            if intake:
                copies.add((n, intake, tuple(sorted(members))))
    return deliveries, copies


def test_twenty_sigkills_under_load_lose_nothing_acknowledged():
    started = time.time()
    rng = random.Random(SEED)
    workdir = tempfile.mkdtemp(prefix="tidegate-k9-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink(certs=certs, require_tls=True) as intake, Sink() as dsn:
        # Copies live an hour: any copy not delivered is a loss, never an expiry.
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"],
                        max_queue_time="1h", retry_delay="1s").start()
        try:
            kills = 0
            with Load(g.port) as load:
                for _ in range(KILLS):
                    time.sleep(rng.uniform(0.3, 2.0))
                    g.kill()
                    kills += 1
                    time.sleep(rng.uniform(0.0, 0.3))
                    g.start()
                time.sleep(1.0)  # some load on the last incarnation too
            acked = dict(load.acked)
            want_deliveries, want_copies = expected(acked)

            # Final drain: the last incarnation delivers what the earlier ones left.
            deadline = time.time() + 45
            while time.time() < deadline:
                got_d, got_c = delivered(next_hop), journaled(intake)
                if want_deliveries <= set(got_d) and want_copies <= set(got_c):
                    break
                time.sleep(0.5)
            assert g.stop() == 0
            got_d, got_c = delivered(next_hop), journaled(intake)
            missing_d = sorted(want_deliveries - set(got_d))
            missing_c = sorted(want_copies - set(got_c))
            # A copy for a group that must not journal (Legal), or to the wrong intake address,
            # is a policy violation whatever happened to the process.
            acked_or_doubt = set(range(load.next_n))
            wrong_c = [k for k in got_c if k[0] in acked_or_doubt and any(
                intake_for(r) != k[1] for r in k[2])]
            dup_d = {k: v for k, v in got_d.items() if v > 1}
            dup_c = {k: v for k, v in got_c.items() if v > 1}
            print(f"\nseed={SEED} kills={kills} acknowledged={len(acked)} "
                  f"in_doubt={load.in_doubt} refused_connects={load.refused}")
            print(f"recipient deliveries expected={len(want_deliveries)} "
                  f"received={sum(got_d.values())} distinct={len(got_d)} "
                  f"duplicates={sum(v - 1 for v in dup_d.values())}")
            print(f"journal copies expected={len(want_copies)} received={sum(got_c.values())} "
                  f"distinct={len(got_c)} duplicates={sum(v - 1 for v in dup_c.values())}")
            for k, v in sorted(dup_d.items())[:100]:
                print(f"  duplicate delivery: k9-{k[0]} to {k[1]} x{v}")
            for k, v in sorted(dup_c.items())[:100]:
                print(f"  duplicate copy: k9-{k[0]} to {k[1]} for {', '.join(k[2])} x{v}")
            print(f"wall={time.time() - started:.1f}s")
            assert kills == KILLS
            assert len(acked) >= 500, f"only {len(acked)} acknowledged: the load is too thin"
            assert not missing_d, f"{len(missing_d)} acknowledged deliveries lost: {missing_d[:10]}"
            assert not missing_c, f"{len(missing_c)} journal copies lost: {missing_c[:10]}"
            assert not wrong_c, f"copies against policy: {wrong_c[:10]}"
            assert not dsn.messages, "a DSN was sent although every next hop accepted"
        finally:
            g.cleanup()
