"""Server TLS profiles (issue 14): the server chooses the cipher (its order, forward-secret AEAD
first); SMTP listeners default to `opportunistic` (CBC and static-RSA suites still accepted, at
the bottom), the intake to `intermediate` (ECDHE/DHE + AES-GCM/ChaCha20 only). The client is the
real `openssl s_client -starttls smtp`, with an RSA certificate so that static-RSA suites exist."""
import os
import re
import subprocess
import tempfile

import pytest

from harness import Gateway
from tdc_fixtures import A
from test_intake import Intake

# Client preference lists: a weak suite first, an ECDHE-GCM one last.
STATIC_RSA_FIRST = "AES128-SHA:AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
CBC_FIRST = "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
CBC_ONLY = "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384"
STATIC_RSA_ONLY = "AES128-SHA:AES256-GCM-SHA384"


def rsa_certs(directory):
    os.makedirs(directory, exist_ok=True)
    key, cert = os.path.join(directory, "rsa.key"), os.path.join(directory, "rsa.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return {"cert": cert, "key": key, "ca": cert}


def negotiated(port, ciphers=None, tls13=False):
    """The cipher a real client gets after STARTTLS offering `ciphers` in this order (TLS 1.2),
    or None when the handshake fails."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "smtp"]
    args += ["-tls1_3"] if tls13 else ["-tls1_2", "-cipher", ciphers]
    r = subprocess.run(args, input=b"QUIT\r\n", capture_output=True, timeout=30)
    m = re.search(rb"Cipher is (\S+)", r.stdout)
    assert m, (r.stdout[-800:], r.stderr[-800:])
    return None if m.group(1) == b"(NONE)" else m.group(1).decode()


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="tidegate-tls-")
    yield rsa_certs(d)
    subprocess.run(["rm", "-rf", d], check=False)


def gateway(certs, tls_extra=""):
    return Gateway(listener_extra=(f"    tls: {{certificate: {certs['cert']}, "
                                   f"key: {certs['key']}{tls_extra}}}\n")).start()


def test_smtp_listener_chooses_forward_secret_aead_but_still_takes_cbc_and_static_rsa(certs):
    g = gateway(certs)
    try:
        # Server order: whatever the client lists first, ECDHE + GCM wins when both can do it.
        assert negotiated(g.port, STATIC_RSA_FIRST) == "ECDHE-RSA-AES256-GCM-SHA384"
        assert negotiated(g.port, CBC_FIRST) == "ECDHE-RSA-AES256-GCM-SHA384"
        # Opportunistic: a client that can do no better still gets encryption.
        assert negotiated(g.port, CBC_ONLY) == "ECDHE-RSA-AES256-SHA384"
        assert negotiated(g.port, STATIC_RSA_ONLY) == "AES256-GCM-SHA384"
        assert negotiated(g.port, tls13=True) is not None
        g.wait_log("TLS success protocol TLSv1.2 cipher AES256-GCM-SHA384")
    finally:
        g.cleanup()


def test_listener_profile_intermediate_and_explicit_ciphers(certs):
    g = gateway(certs, ", profile: intermediate")
    try:
        assert negotiated(g.port, CBC_ONLY) is None
        assert negotiated(g.port, STATIC_RSA_ONLY) is None
        assert negotiated(g.port, CBC_FIRST) == "ECDHE-RSA-AES256-GCM-SHA384"
    finally:
        g.cleanup()
    g = gateway(certs, ", ciphers: 'ECDHE+CHACHA20:ECDHE+AESGCM'")
    try:
        assert negotiated(g.port, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305") == \
            "ECDHE-RSA-CHACHA20-POLY1305"
        assert negotiated(g.port, CBC_ONLY) is None
    finally:
        g.cleanup()


def test_intake_takes_only_the_intermediate_profile(certs):
    workdir = tempfile.mkdtemp(prefix="tidegate-tls-intake-")
    intake = Intake(workdir, certs, accounts=(("default", A),)).start()
    try:
        assert negotiated(intake.port, STATIC_RSA_ONLY) is None
        assert negotiated(intake.port, CBC_ONLY) is None
        assert negotiated(intake.port, STATIC_RSA_FIRST) == "ECDHE-RSA-AES256-GCM-SHA384"
        assert negotiated(intake.port, CBC_FIRST) == "ECDHE-RSA-AES256-GCM-SHA384"
        assert negotiated(intake.port, tls13=True) is not None
    finally:
        intake.stop()
        subprocess.run(["rm", "-rf", workdir], check=False)
