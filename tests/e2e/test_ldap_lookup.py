"""test_ldap_lookup.py — the LDAP accept query (CONTRACT §13, validation::LdapLookup) against a
real slapd (tests/e2e/slapd.py), a dead port and a blackhole, through tidegate_ldap_probe: one
LdapLookup for the probe's whole life, batches of addresses looked up at once.

Guards: known / alternate address / unknown / domain case; filter injection never matching
someone else's entry; a wrong bind password is a failure that never shows the password; slapd
stopped → failure within timeout + 1 s, started again → known with the same LdapLookup (a kept
connection is reconnected); URIs fail over in order; a blackhole → failure within timeout + 1 s;
the worker pool answers lookups concurrently on kept connections, queued ones within their
timeout too, and a full queue at once; `slapd.py serve` (the demo's directory) starts and stops.
"""
import os
import selectors
import signal
import subprocess
import sys
import time

import pytest

from harness import free_port, timing_slack
from peers import Blackhole
from slapd import Slapd

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROBE = os.environ.get("TIDEGATE_LDAP_PROBE") or os.path.join(
    REPO, "build", "src", "validation", "tidegate_ldap_probe")
TIMEOUT_MS = 1500


class Probe:
    """tidegate_ldap_probe as a child: ask() sends one batch and returns [(outcome, ms, reason)]."""

    def __init__(self, uris, base="dc=example,dc=com", bind_dn=None, password_file=None,
                 timeout_ms=TIMEOUT_MS, workers=4, max_queued=None):
        argv = [PROBE, "--base", base, "--timeout-ms", str(timeout_ms), "--workers", str(workers)]
        for uri in uris:
            argv += ["--uri", uri]
        if bind_dn:
            argv += ["--bind-dn", bind_dn, "--password-file", password_file]
        if max_queued:
            argv += ["--max-queued", str(max_queued)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buffer = b""

    def _line(self, deadline):
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, "tidegate_ldap_probe did not answer in time"
            with selectors.DefaultSelector() as sel:
                sel.register(self.proc.stdout, selectors.EVENT_READ)
                if not sel.select(left):
                    continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            assert chunk, f"tidegate_ldap_probe exited: {self.proc.stderr.read().decode()}"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def ask(self, *addresses, wait=30.0):
        began = time.monotonic()
        self.proc.stdin.write(("\t".join(addresses) + "\n").encode())
        self.proc.stdin.flush()
        deadline = began + wait
        answers = []
        while (line := self._line(deadline)) != ".":
            outcome, ms, reason = line.split("\t", 2)
            answers.append((outcome, int(ms), reason))
        assert len(answers) == len(addresses)
        return answers

    def outcomes(self, *addresses):
        return [a[0] for a in self.ask(*addresses)]

    def close(self, wait=30.0):
        """EOF → the LdapLookup's destructor; returns how long it took (ms) and stderr."""
        self.proc.stdin.close()
        shutdown = self._line(time.monotonic() + wait)
        self.proc.wait(timeout=wait)
        assert self.proc.returncode == 0
        return int(shutdown.split()[1]), self.proc.stderr.read().decode()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    with Slapd(str(tmp_path_factory.mktemp("ldap"))) as s:
        yield s


@pytest.fixture
def probes():
    made = []

    def make(*args, **kw):
        made.append(Probe(*args, **kw))
        return made[-1]

    yield make
    for p in made:
        p.kill()


def bound(probes, slapd, **kw):
    return probes([slapd.uri], bind_dn=slapd.bind_dn, password_file=slapd.password_file, **kw)


def in_time(ms, timeout_ms=TIMEOUT_MS):
    """CONTRACT §13: a failure is answered within timeout + 1 s."""
    return ms <= (timeout_ms + 1000) * timing_slack()


def test_known_alternate_unknown_and_domain_case(slapd, probes):
    p = bound(probes, slapd)
    before = slapd.searches()
    answers = p.ask("alice@example.com", "robert@example.com", "bob@example.com",
                    "carol@example.com", "alice@EXAMPLE.Com", "ROBERT@Example.COM",
                    "alice@example.org")
    assert [a[0] for a in answers] == ["known", "known", "known", "unknown", "known", "known",
                                       "unknown"], answers
    assert answers[0][2] == "entry found" and answers[3][2] == "no entry"
    # Each answer came from a search (nothing answered without asking the directory).
    assert slapd.searches() - before == 7
    assert "(|(mail=carol@example.com)(mailLocalAddress=carol@example.com))" in \
        slapd.search_filters()


def test_filter_injection_never_matches_someone_else(slapd, probes):
    p = bound(probes, slapd)
    before = slapd.searches()
    attempts = ["*@example.com", '"nobody)(mail=*"@example.com', '"*"@example.com',
                '"nobody)(|(objectClass=*"@example.com', '"x\\\\2a"@example.com', "alic*@example.com"]
    assert p.outcomes(*attempts) == ["unknown"] * len(attempts)
    filters = slapd.search_filters()[before:]
    assert len(filters) == len(attempts)
    # slapd received the specials as escaped values (it prints hex in upper case).
    assert "(|(mail=\\2A@example.com)(mailLocalAddress=\\2A@example.com))" in filters
    assert all("*" not in f for f in filters), filters


def test_wrong_bind_password_is_a_failure_without_the_password(slapd, probes, tmp_path):
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-" + slapd.password + "\n")
    p = probes([slapd.uri], bind_dn=slapd.bind_dn, password_file=str(wrong))
    answers = p.ask("alice@example.com", "carol@example.com")
    assert [a[:1] + a[2:] for a in answers] == [("failure", "bind failed: Invalid credentials")] * 2
    _, stderr = p.close()
    assert slapd.password not in stderr


def test_slapd_stopped_then_started_again(slapd, probes):
    p = bound(probes, slapd)
    assert p.outcomes("alice@example.com", "bob@example.com") == ["known", "known"]
    slapd.stop()
    try:
        answers = p.ask("alice@example.com", "carol@example.com", "robert@example.com")
        assert [a[0] for a in answers] == ["failure"] * 3, answers
        assert {a[2] for a in answers} == {f"cannot reach {slapd.uri}"}
        assert all(in_time(a[1]) for a in answers), answers
    finally:
        slapd.start()
    # No restart of the LdapLookup: the next lookups reconnect.
    assert p.outcomes("alice@example.com", "carol@example.com", "robert@example.com") == \
        ["known", "unknown", "known"]


def test_kept_connection_reconnects_after_a_restart(slapd, probes):
    # One worker: its handle, kept open, is dead after the restart; the lookup must not fail.
    p = bound(probes, slapd, workers=1)
    assert p.outcomes("alice@example.com") == ["known"]
    slapd.restart()
    assert p.outcomes("alice@example.com", "carol@example.com") == ["known", "unknown"]


def test_uris_fail_over_in_order(slapd, probes):
    dead = f"ldap://127.0.0.1:{free_port()}"
    p = probes([dead, slapd.uri], bind_dn=slapd.bind_dn, password_file=slapd.password_file)
    assert p.outcomes("alice@example.com", "carol@example.com") == ["known", "unknown"]
    q = probes([dead])
    answers = q.ask("alice@example.com")
    assert answers[0][0] == "failure" and answers[0][2] == f"cannot reach {dead}"


@pytest.mark.parametrize("bind", [False, True], ids=["anonymous", "bind"])
def test_blackhole_directory_fails_in_time(probes, tmp_path, bind):
    password_file = tmp_path / "password"
    password_file.write_text("secret\n")
    with Blackhole() as hole:
        uri = f"ldap://127.0.0.1:{hole.port}"
        p = probes([uri], bind_dn="cn=x,dc=example,dc=com" if bind else None,
                   password_file=str(password_file) if bind else None)
        answers = p.ask("alice@example.com", "carol@example.com")
        assert [a[0] for a in answers] == ["failure"] * 2, answers
        assert {a[2] for a in answers} == {"timeout after 1500ms"}
        assert all(TIMEOUT_MS - 50 <= a[1] and in_time(a[1]) for a in answers), answers
        shutdown_ms, _ = p.close()
        assert shutdown_ms < 1000 * timing_slack()


def test_pool_answers_lookups_concurrently_on_kept_connections(slapd, probes):
    p = bound(probes, slapd)
    before = len(slapd.search_log())
    batch = ["alice@example.com", "carol@example.com", "robert@example.com", "dave@example.com"]
    assert p.outcomes(*batch * 10) == ["known", "unknown", "known", "unknown"] * 10
    searches = slapd.search_log()[before:]
    assert len(searches) == 40
    # Each worker keeps its connection: 40 searches came over at most four.
    assert len({conn for conn, _ in searches}) <= 4, searches
    # Against a directory that never answers, four lookups at once are four connections, one per
    # worker, all waiting at the same time (each ends at its timeout).
    with Blackhole() as hole:
        q = probes([f"ldap://127.0.0.1:{hole.port}"], workers=4)
        answers = q.ask(*["alice@example.com"] * 4)
        assert [a[0] for a in answers] == ["failure"] * 4
        assert all(in_time(a[1]) for a in answers), answers
        assert len(hole.conns) == 4


def test_queued_lookups_fail_within_their_timeout(probes):
    with Blackhole() as hole:
        p = probes([f"ldap://127.0.0.1:{hole.port}"], workers=1)
        answers = p.ask(*["alice@example.com"] * 3)
        assert [a[0] for a in answers] == ["failure"] * 3
        assert all(in_time(a[1]) for a in answers), answers


def test_full_queue_answers_at_once(probes):
    with Blackhole() as hole:
        p = probes([f"ldap://127.0.0.1:{hole.port}"], workers=1, max_queued=1)
        answers = p.ask(*["alice@example.com"] * 4)
        full = [a for a in answers if a[2] == "too many lookups queued"]
        # One lookup runs, one waits in the queue (or both wait a moment): the rest are refused.
        assert 2 <= len(full) <= 3, answers
        assert all(a[0] == "failure" and a[1] < 500 * timing_slack() for a in full), answers


def test_slapd_serve_for_the_demo(probes, tmp_path):
    """`slapd.py serve DIR` (make run): prints where it is, serves the users, and SIGTERM stops
    slapd with it."""
    serve = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "slapd.py"),
                              "serve", str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    info = {}
    try:
        while "pid" not in info:
            line = serve.stdout.readline()
            assert line, f"slapd.py serve exited with {serve.wait(timeout=10)}"
            key, _, value = line.strip().partition("=")
            info[key] = value
        p = probes([info["uri"]], base=info["base"], bind_dn=info["bind_dn"],
                   password_file=info["password_file"])
        assert p.outcomes("alice@example.com", "robert@example.com", "carol@example.com") == \
            ["known", "known", "unknown"]
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(int(info["pid"]), 0)
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(timeout=10)
        if "pid" in info:  # slapd runs in a session of its own: never left behind
            try:
                os.kill(int(info["pid"]), signal.SIGKILL)
            except ProcessLookupError:
                pass
