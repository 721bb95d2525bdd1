"""The engine fixtures (tests/e2e/engines.py) give what the content-security tests rely on:
verdicts on demand from the real rspamd and clamd, asked over their own protocols from Python
(rspamd `POST /checkv2`, clamd `zINSTREAM`), SPF/DMARC pass and fail through dnsmasq, and engines
that stop and come back on the same port. One rspamd for the module (its start is the slow part).
docs/testing-engines.md records the names and symbols asserted here."""
import os
import shutil
import socket
import tempfile

import pytest

import engines
from engines import (AUTH_FAIL_DOMAIN, AUTH_PASS_DOMAIN, EICAR_NAME, ENCRYPTED_ZIP_NAME,
                     TEST_SIGNATURE_NAME, Clamd, Rspamd)
from peers import Dnsmasq


@pytest.fixture(scope="module")
def workdir():
    path = tempfile.mkdtemp(prefix="tidegate-engines-")
    yield path
    if os.environ.get("KEEP_TEST_DIRS") != "1":
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def dns():
    with Dnsmasq(engines.auth_records()) as d:
        yield d


@pytest.fixture(scope="module")
def rspamd(workdir, dns):
    with Rspamd(workdir, dns_port=dns.port) as r:
        print(f"rspamd up in {r.start_seconds:.1f}s")
        yield r


@pytest.fixture(scope="module")
def clamd(workdir):
    with Clamd(workdir, stream_max_length="1M", local_socket=True) as c:
        print(f"clamd up in {c.start_seconds:.2f}s")
        yield c


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


# -- rspamd ------------------------------------------------------------------------------------

def test_rspamd_clean_is_no_action(rspamd):
    reply = rspamd.check(engines.clean_message(), mail_from="sender@client.test",
                         rcpt="user@example.com", hostname="mail.client.test",
                         queue_id="TEST1")
    assert reply["action"] == "no action", reply


def test_rspamd_gtube_is_reject(rspamd):
    reply = rspamd.check(engines.gtube_message())
    assert reply["action"] == "reject", reply
    assert "GTUBE" in reply["symbols"]


def test_rspamd_test_header_gives_suspect_and_positive(rspamd):
    suspect = rspamd.check(engines.suspect_message())
    assert suspect["action"] in ("add header", "rewrite subject"), suspect
    assert "TIDEGATE_TEST_SUSPECT" in suspect["symbols"]
    spam = rspamd.check(engines.spam_message())
    assert spam["action"] == "reject", spam
    assert "TIDEGATE_TEST_SPAM" in spam["symbols"]


def auth(rspamd, domain):
    sender = f"alice@{domain}"
    reply = rspamd.check(engines.clean_message(mail_from=sender), ip="127.0.0.1",
                         helo="mail.client.test", mail_from=sender, rcpt="user@example.com")
    return set(reply["symbols"])


def test_rspamd_spf_dmarc_pass_from_dnsmasq(rspamd):
    symbols = auth(rspamd, AUTH_PASS_DOMAIN)
    assert {"R_SPF_ALLOW", "DMARC_POLICY_ALLOW"} <= symbols, symbols
    assert not {"R_SPF_DNSFAIL", "DMARC_DNSFAIL"} & symbols, symbols


def test_rspamd_spf_dmarc_fail_from_dnsmasq(rspamd):
    symbols = auth(rspamd, AUTH_FAIL_DOMAIN)
    assert {"R_SPF_FAIL", "DMARC_POLICY_REJECT"} <= symbols, symbols


def test_rspamd_kill_and_restart_on_the_same_port(rspamd):
    port = rspamd.port
    rspamd.kill()
    assert refused(port)
    rspamd.restart()
    assert rspamd.port == port and rspamd.ping()
    assert rspamd.check(engines.gtube_message())["action"] == "reject"


# -- clamd -------------------------------------------------------------------------------------

def test_clamd_clean_is_ok(clamd):
    assert clamd.scan(engines.clean_message()) == "stream: OK"


@pytest.mark.parametrize("make", [lambda: engines.EICAR, engines.eicar_attachment_message,
                                  engines.eicar_zip_message],
                         ids=["plain", "base64-attachment", "zipped"])
def test_clamd_finds_eicar(clamd, make):
    assert clamd.scan(make()) == f"stream: {EICAR_NAME} FOUND"


def test_clamd_finds_the_project_signature(clamd):
    assert clamd.scan(engines.project_signature_message()) == f"stream: {TEST_SIGNATURE_NAME} FOUND"


def test_clamd_encrypted_zip_is_heuristics_encrypted(clamd, workdir):
    assert (clamd.scan(engines.encrypted_zip_message(workdir)) ==
            f"stream: {ENCRYPTED_ZIP_NAME} FOUND")


def test_clamd_over_stream_max_length_is_error(clamd):
    reply = clamd.scan(engines.clean_message() + b"x" * (1536 * 1024))
    assert reply == "INSTREAM size limit exceeded. ERROR"


def test_clamd_unix_socket(clamd):
    assert engines.clamd_scan(clamd.socket, engines.EICAR) == f"stream: {EICAR_NAME} FOUND"


def test_clamd_stop_and_restart_on_the_same_port(clamd):
    port, old_pid = clamd.port, clamd.pid
    clamd.stop()
    assert refused(port)
    clamd.restart()
    assert clamd.port == port and clamd.pid != old_pid and clamd.ping()
    assert clamd.scan(engines.EICAR) == f"stream: {EICAR_NAME} FOUND"
