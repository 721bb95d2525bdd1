"""recipient_validation (CONTRACT §13) through `tidegate check-config`: the same loader as the
gateway accepts the contract's example (password read from a file beside the config) and refuses
each mistake with file, line and key, never printing the password."""
import os
import subprocess
import tempfile

from harness import BIN

HEAD = """hostname: gw.example.com
data_dir: {dir}/data
listeners: [{{name: In, bind: 127.0.0.1:0}}]
accepted_domains: [example.com, example.org]
incoming_mail_policies: [{{name: DEFAULT}}]
"""

GOOD = """recipient_validation:
  always_accept: ["postmaster@", "abuse@"]
  cache_ttl: 10m
  max_invalid_recipients_per_hour: 25
  ldap:
    uri: ldap://127.0.0.1:389
    base: dc=example,dc=com
    bind_dn: cn=tidegate,dc=example,dc=com
    password_file: ldap.secret
    filter: "(|(mail={a})(mailLocalAddress={a}))"
    domains: [example.com]
    timeout: 5s
    on_failure: tempfail
  call_ahead:
    domains: [example.org]
    timeout: 10s
    on_failure: tempfail
"""

PASSWORD = "Tr0ub4dor-never-shown"


def check(directory, text):
    path = os.path.join(directory, "gateway.yaml")
    with open(path, "w") as f:
        f.write(HEAD.format(dir=directory) + text)
    r = subprocess.run([BIN, "-c", path, "check-config"], capture_output=True, text=True,
                       timeout=60)
    assert PASSWORD not in r.stdout + r.stderr
    return path, r


def test_check_config_accepts_and_refuses_recipient_validation():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "ldap.secret"), "w") as f:
            f.write(PASSWORD + "\n")
        path, r = check(d, GOOD)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"{path}: ok\n"

        # (original text, replacement, message); the error's line is the replacement's
        bad = [
            ("domains: [example.com]", "domains: [example.net]",
             "recipient_validation.ldap.domains[0]: 'example.net' is not an accepted domain"),
            ("password_file: ldap.secret", "password_file: missing.secret",
             "recipient_validation.ldap.password_file: cannot read password file " +
             os.path.join(d, "missing.secret")),
            ('filter: "(|(mail={a})(mailLocalAddress={a}))"', 'filter: "(mail={x})"',
             "recipient_validation.ldap.filter: unknown placeholder '{x}'"),
            ("uri: ldap://127.0.0.1:389", "uri: https://127.0.0.1",
             "recipient_validation.ldap.uri: expected ldap://"),
            ("on_failure: tempfail\n  call_ahead", "on_failure: bounce\n  call_ahead",
             "recipient_validation.ldap.on_failure: expected tempfail or accept"),
            ("    domains: [example.org]", "    domains: []",
             "recipient_validation.call_ahead.domains: needs at least one domain"),
            ("  cache_ttl: 10m", "  cache_ttl: 10m\n  colour: blue",
             "recipient_validation.colour: unknown key"),
        ]
        for original, replacement, message in bad:
            assert original in GOOD
            text = GOOD.replace(original, replacement, 1)
            wanted = replacement.splitlines()[-1 if "colour" in replacement else 0]
            # HEAD has 5 lines: GOOD's first line is line 6.
            line = [l.strip() for l in text.splitlines()].index(wanted.strip()) + 6
            path, r = check(d, text)
            assert r.returncode == 2, (replacement, r.stdout)
            assert f"{path}:{line}: {message}" in r.stderr, (replacement, line, r.stderr)

        # A password file that cannot be read (not for root, who reads anything).
        if os.geteuid() != 0:
            os.chmod(os.path.join(d, "ldap.secret"), 0)
            path, r = check(d, GOOD)
            assert r.returncode == 2
            assert "cannot read password file" in r.stderr
