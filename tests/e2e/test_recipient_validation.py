"""Recipient validation at RCPT time (issue 17, CONTRACT §13) end to end: a private slapd
(tests/e2e/slapd.py) for the LDAP accept query, aiosmtpd next hops for SMTP call-ahead, real SMTP
clients (smtplib) against the gateway.

example.com is validated by LDAP (alice@, bob@ with the alternate address robert@); example.org
by call-ahead to its next hop (the same smtp_routes entry delivery uses)."""
import os
import re
import signal
import smtplib
import socket
import tempfile
import threading
import time

import pytest

from harness import Gateway, free_port, read_reply, timing_slack
from peers import Blackhole, Sink
from slapd import Slapd
from test_webui_validation import api_test

LDAP_TIMEOUT = 2.0
CALL_AHEAD_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def slapd():
    workdir = tempfile.mkdtemp(prefix="tidegate-rv-")
    d = Slapd(workdir).start()
    yield d
    d.close()


def validation_yaml(ldap_uri=None, slapd=None, harvest=0, cache_ttl="10m", on_failure="tempfail",
                    call_ahead=True, always_accept='["postmaster@"]'):
    y = ("recipient_validation:\n"
         f"  always_accept: {always_accept}\n"
         f"  cache_ttl: {cache_ttl}\n"
         f"  max_invalid_recipients_per_hour: {harvest}\n")
    if slapd is not None or ldap_uri:
        y += ("  ldap:\n"
              f"    uri: {ldap_uri or slapd.uri}\n"
              f"    base: {slapd.base if slapd else 'dc=example,dc=com'}\n")
        if slapd is not None:
            y += (f"    bind_dn: {slapd.bind_dn}\n"
                  f"    password_file: {slapd.password_file}\n")
        y += ("    filter: \"(|(mail={a})(mailLocalAddress={a}))\"\n"
              "    domains: [example.com]\n"
              f"    timeout: {int(LDAP_TIMEOUT * 1000)}ms\n"
              f"    on_failure: {on_failure}\n")
    if call_ahead:
        y += ("  call_ahead:\n"
              "    domains: [example.org]\n"
              f"    timeout: {int(CALL_AHEAD_TIMEOUT * 1000)}ms\n"
              f"    on_failure: {on_failure}\n")
    return y


class World:
    """A gateway delivering example.com to `mailbox` and example.org to `org_hop` (also its
    call-ahead next hop)."""

    def __init__(self, validation, org_hop=None, org_port=None):
        self.mailbox = Sink().start()
        self.org_hop = org_hop
        org_port = org_port or (org_hop.port if org_hop else free_port())
        routes = ("smtp_routes:\n"
                  f"  example.com: [127.0.0.1:{self.mailbox.port}]\n"
                  f"  example.org: [127.0.0.1:{org_port}]\n"
                  "delivery:\n  retry: {initial: 1s, max_interval: 2s, max_queue_time: 1h}\n")
        self.g = Gateway(accepted=("example.com", "example.org"),
                         extra_yaml=routes + validation).start()

    def close(self):
        self.g.cleanup()
        self.mailbox.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def rcpt(port, *addresses, source="127.0.0.1"):
    """(code, text) of each RCPT in one transaction; stops at a 421 (the server closed)."""
    out = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as s:
        s.ehlo("client.test")
        s.mail("sender@client.test")
        for a in addresses:
            try:
                code, text = s.rcpt(a)
            except smtplib.SMTPServerDisconnected:
                out.append((None, b"disconnected"))
                break
            out.append((code, text.decode()))
            if code == 421:
                break
        try:
            s.rset()
        except smtplib.SMTPServerDisconnected:
            pass
    return out


def assert_session_icid(g, line_pattern):
    """The log line matching `line_pattern` (with an (\\d+) for its ICID) names the ICID of the
    session that sent the RCPT (the one whose MAIL FROM was logged with it)."""
    log = g.mail_log()
    m = re.search(line_pattern, log)
    assert m, log
    icid = m.group(1)
    assert re.search(rf"MID \d+ ICID {icid} From: <sender@client.test>", log), (icid, log)


def test_ldap_known_alternate_unknown_and_always_accept(slapd):
    with World(validation_yaml(slapd=slapd, call_ahead=False)) as w:
        before = slapd.searches()
        got = rcpt(w.g.port, "alice@example.com", "robert@EXAMPLE.com", "nobody@example.com",
                   "PostMaster@example.com")
        assert got[0] == (250, "2.1.5 Ok")
        assert got[1] == (250, "2.1.5 Ok")
        assert got[2] == (550, "5.1.1 <nobody@example.com>: Recipient address rejected: "
                               "User unknown")
        assert got[3] == (250, "2.1.5 Ok")
        # always_accept is never looked up: three searches for four recipients.
        assert slapd.searches() - before == 3
        assert not any("postmaster" in f.lower() for f in slapd.search_filters())
        w.g.wait_log("rejected RCPT <nobody@example.com>: ldap ")
        assert_session_icid(w.g, r"ICID (\d+) rejected RCPT <nobody@example.com>: ldap no entry")
        # A cached answer asks the directory nothing.
        got = rcpt(w.g.port, "alice@example.com", "nobody@example.com")
        assert [c for c, _ in got] == [250, 550]
        assert slapd.searches() - before == 3


def test_filter_injection_never_matches_someone_else(slapd):
    with World(validation_yaml(slapd=slapd, call_ahead=False)) as w:
        got = rcpt(w.g.port, "*@example.com", '"alice)(mail=*"@example.com',
                   '"*)(|(mail=*"@example.com', "alice*@example.com")
        assert [c for c, _ in got] == [550, 550, 550, 550], got
        # slapd saw the specials escaped, never a wildcard from the address.
        for f in slapd.search_filters()[-4:]:
            assert "=*)" not in f and "(mail=*" not in f, f


def test_a_mixed_transaction_delivers_only_the_known_recipients(slapd):
    with World(validation_yaml(slapd=slapd, call_ahead=False)) as w:
        with smtplib.SMTP("127.0.0.1", w.g.port, timeout=30) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            assert s.rcpt("alice@example.com")[0] == 250
            assert s.rcpt("ghost@example.com")[0] == 550
            assert s.rcpt("bob@example.com")[0] == 250
            code, _ = s.data(b"Subject: mixed\r\n\r\nhello\r\n")
            assert code == 250
        w.mailbox.wait_messages(1, timeout=20)
        time.sleep(0.5)
        assert len(w.mailbox.messages) == 1
        assert sorted(w.mailbox.messages[0].rcpt_tos) == ["alice@example.com", "bob@example.com"]


def test_slapd_down_tempfails_in_time_and_up_again_works_without_restart(slapd):
    with World(validation_yaml(slapd=slapd, call_ahead=False, cache_ttl="0s")) as w:
        assert rcpt(w.g.port, "alice@example.com")[0][0] == 250
        slapd.stop()
        try:
            t0 = time.time()
            got = rcpt(w.g.port, "alice@example.com")
            took = time.time() - t0
            assert got[0][0] == 451 and got[0][1].startswith("4.4.3 <alice@example.com>"), got
            assert took < LDAP_TIMEOUT + 1.0 + timing_slack(), took
            w.g.wait_log("deferred RCPT <alice@example.com>: ldap ")
        finally:
            slapd.start()
        assert rcpt(w.g.port, "alice@example.com")[0][0] == 250


def test_a_directory_that_never_answers_tempfails_in_time_and_others_are_unaffected():
    hole = Blackhole().start()
    org = Sink().start()
    try:
        with World(validation_yaml(ldap_uri=f"ldap://127.0.0.1:{hole.port}"), org_hop=org) as w:
            result = {}

            def slow():
                t0 = time.time()
                result["got"] = rcpt(w.g.port, "alice@example.com")
                result["took"] = time.time() - t0

            t = threading.Thread(target=slow)
            t.start()
            time.sleep(0.3)
            # Meanwhile another client, to a domain LDAP does not validate, is answered at once.
            t0 = time.time()
            assert rcpt(w.g.port, "carol@example.org")[0][0] == 250
            assert time.time() - t0 < 1.0 + timing_slack()
            t.join(30)
            assert result["got"][0][0] == 451, result
            assert result["took"] < LDAP_TIMEOUT + 1.0 + timing_slack(), result
    finally:
        hole.stop()
        org.stop()


def test_on_failure_accept_accepts_and_logs(slapd):
    hole = Blackhole().start()
    try:
        with World(validation_yaml(ldap_uri=f"ldap://127.0.0.1:{hole.port}", on_failure="accept",
                                   call_ahead=False)) as w:
            assert rcpt(w.g.port, "alice@example.com")[0][0] == 250
            w.g.wait_log("accepted RCPT <alice@example.com> on lookup failure: ldap ")
    finally:
        hole.stop()


def test_call_ahead_250_550_451_and_the_cache():
    asked = []

    def reply(address):
        asked.append(address)
        local = address.split("@")[0]
        if local.startswith("gone"):
            return "550 5.1.1 <%s>: user unknown" % address
        if local.startswith("busy"):
            return "451 4.3.0 try again later"
        return None

    org = Sink(rcpt_reply=reply).start()
    try:
        with World(validation_yaml(call_ahead=True), org_hop=org) as w:
            got = rcpt(w.g.port, "carol@example.org", "gone@example.org", "busy@example.org")
            assert [c for c, _ in got] == [250, 550, 451], got
            assert got[1][1] == "5.1.1 <gone@example.org>: Recipient address rejected: User unknown"
            w.g.wait_log("rejected RCPT <gone@example.org>: call-ahead 550")
            w.g.wait_log("deferred RCPT <busy@example.org>: call-ahead ")
            assert_session_icid(w.g, r"ICID (\d+) deferred RCPT <busy@example.org>: call-ahead ")
            assert sorted(asked) == ["busy@example.org", "carol@example.org", "gone@example.org"]
            # The probes never sent a message, and the cache answers the known and the unknown.
            assert org.messages == []
            got = rcpt(w.g.port, "carol@example.org", "gone@example.org", "busy@example.org")
            assert [c for c, _ in got] == [250, 550, 451]
            assert sorted(asked) == ["busy@example.org", "busy@example.org",
                                     "carol@example.org", "gone@example.org"]
            # A graceful stop with the call-ahead method (and a probe) in place: a clean exit.
            w.g.proc.send_signal(signal.SIGTERM)
            assert w.g.proc.wait(60) == 0, w.g.mail_log()[-2000:]
    finally:
        org.stop()


def test_call_ahead_to_a_next_hop_that_hangs_tempfails_in_time():
    hole = Blackhole().start()
    try:
        with World(validation_yaml(call_ahead=True), org_port=hole.port) as w:
            t0 = time.time()
            got = rcpt(w.g.port, "carol@example.org")
            assert got[0][0] == 451, got
            assert time.time() - t0 < CALL_AHEAD_TIMEOUT + 1.0 + timing_slack()
    finally:
        hole.stop()


def test_harvest_limit_closes_with_421_and_another_ip_is_unaffected(slapd):
    with World(validation_yaml(slapd=slapd, call_ahead=False, harvest=3)) as w:
        got = rcpt(w.g.port, "u1@example.com", "u2@example.com", "u3@example.com",
                   "u4@example.com", "alice@example.com")
        assert [c for c, _ in got] == [550, 550, 550, 421], got
        assert got[3][1].startswith("4.7.0 ")
        w.g.wait_log("directory harvest limit reached for 127.0.0.1")
        assert_session_icid(w.g, r"ICID (\d+) directory harvest limit reached for 127\.0\.0\.1")
        # Still over: the next unknown from that IP gets the same; a known one is accepted.
        got = rcpt(w.g.port, "alice@example.com", "u5@example.com")
        assert [c for c, _ in got] == [250, 421], got
        # Another IP is unaffected.
        got = rcpt(w.g.port, "u1@example.com", "alice@example.com", source="127.0.0.2")
        assert [c for c, _ in got] == [550, 250], got


def test_pipelined_rcpts_are_answered_in_order(slapd):
    with World(validation_yaml(slapd=slapd, call_ahead=False, cache_ttl="0s")) as w:
        with socket.create_connection(("127.0.0.1", w.g.port), timeout=30) as s:
            f = s.makefile("rb")
            read_reply(f)
            s.sendall(b"EHLO client.test\r\n")
            read_reply(f)
            s.sendall(b"MAIL FROM:<s@client.test>\r\nRCPT TO:<nobody@example.com>\r\n"
                      b"RCPT TO:<alice@example.com>\r\nRCPT TO:<robert@example.com>\r\n"
                      b"RCPT TO:<x@example.com>\r\nQUIT\r\n")
            codes = [int(read_reply(f)[-1][:3]) for _ in range(6)]
            assert codes == [250, 550, 250, 250, 550, 221], codes


def test_the_lookup_test_api_asks_the_same_validator_without_counting(slapd):
    with World(validation_yaml(slapd=slapd, call_ahead=False, harvest=1)) as w:
        status, body = api_test(w.g, "alice@example.com")
        assert status == 200 and body["verdict"] == "accept" and body["method"] == "ldap", body
        for _ in range(3):
            status, body = api_test(w.g, "nobody@example.com")
            assert status == 200 and body["verdict"] == "unknown", body
        status, body = api_test(w.g, "postmaster@example.com")
        assert body["verdict"] == "accept" and body["always_accept"] is True, body
        # The lookup tests counted nothing for the harvest limit: a client's first unknown is 550.
        assert [c for c, _ in rcpt(w.g.port, "ghost@example.com")] == [550]


def test_a_reload_turns_validation_on_and_off(slapd):
    g = Gateway(accepted=("example.com", "example.org")).start()
    try:
        assert [c for c, _ in rcpt(g.port, "nobody@example.com")] == [250]
        base = open(g.config_path).read()
        with open(g.config_path, "a") as f:
            f.write(validation_yaml(slapd=slapd, call_ahead=False))
        g.proc.send_signal(signal.SIGHUP)
        g.wait_log("Configuration reloaded")
        assert [c for c, _ in rcpt(g.port, "nobody@example.com", "alice@example.com")] == [550, 250]
        with open(g.config_path, "w") as f:
            f.write(base)
        reloads = g.mail_log().count("Configuration reloaded")
        g.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while g.mail_log().count("Configuration reloaded") == reloads and time.time() < deadline:
            time.sleep(0.05)
        assert [c for c, _ in rcpt(g.port, "nobody@example.com")] == [250]
    finally:
        g.cleanup()
