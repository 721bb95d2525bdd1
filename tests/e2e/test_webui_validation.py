"""The Recipient Validation page of the Web UI in a real browser (issue 17, CONTRACT §13):
tests/webui/validation.test.mjs (playwright-core driving Debian's chromium) against a real
gateway whose recipient_validation has no method: the lookup test (page and API) answers
"accepted, not validated"; every verdict's display is covered with a fake hook by the unit test
src/webui/validation_page_test.cc, and the RCPT-time answers with a real slapd by
test_recipient_validation.py. Afterwards this file checks the config file, check-config and the
audit line. Screenshots: tests/out/webui-validation/ (git-ignored)."""
import base64
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request

from harness import BIN, Gateway

HERE = os.path.dirname(os.path.abspath(__file__))
WEBUI = os.path.join(HERE, "..", "webui")
OUT = os.path.join(HERE, "..", "out", "webui-validation")


def api_test(g, address):
    request = urllib.request.Request(
        f"http://127.0.0.1:{g.admin_port}/api/v1/recipient-validation/test",
        data=json.dumps({"address": address}).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(b"admin:test-password").decode()})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_webui_recipient_validation_in_chromium():
    assert os.path.exists("/usr/bin/chromium"), "chromium is missing: run `make deps`"
    assert os.path.isdir(os.path.join(WEBUI, "node_modules", "playwright-core")), \
        "playwright-core is missing: run `make deps`"
    workdir = tempfile.mkdtemp(prefix="tidegate-webui-rv-")
    g = Gateway(workdir=workdir, accepted=("example.com", "example.org"),
                extra_yaml="recipient_validation:\n  always_accept: [\"postmaster@\"]\n")
    g.start()
    try:
        # The API: not an accepted domain is the caller's mistake; otherwise, with no method
        # configured, accepted and not validated.
        status, body = api_test(g, "x@example.net")
        assert status == 400, body
        status, body = api_test(g, "joe@example.com")
        assert status == 200, body
        assert body["verdict"] == "accept" and body["validated"] is False, body

        env = dict(os.environ,
                   WEBUI_URL=f"http://127.0.0.1:{g.admin_port}",
                   WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
                   WEBUI_OUT=os.path.abspath(OUT))
        run = subprocess.run(["node", "--test", "--test-reporter=spec", "validation.test.mjs"],
                             cwd=WEBUI, env=env, capture_output=True, text=True, timeout=300)
        print(run.stdout)
        print(run.stderr)
        assert run.returncode == 0, "browser test failed (output above); gateway log:\n" + \
            g.mail_log()[-4000:]

        # Committed through the ConfigEditor, loadable, audited; the refused try left nothing.
        config = open(g.config_path).read()
        section = config.split("recipient_validation: {", 1)[1]
        assert 'always_accept: ["postmaster@", "abuse@"]' in section, config
        assert "max_invalid_recipients_per_hour: 25" in section, config
        assert 'call_ahead: {\n    domains: ["example.org"],\n    timeout: 3s' in section, config
        assert "<b>" not in config
        assert os.path.exists(g.config_path + ".prev")
        check = subprocess.run([BIN, "-c", g.config_path, "check-config"], capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        log = g.mail_log()
        assert ("recipient_validation always_accept=2 cache_ttl=5m "
                "max_invalid_recipients_per_hour=25 ldap=off call_ahead=[example.org]") in log, log
    finally:
        g.cleanup()
