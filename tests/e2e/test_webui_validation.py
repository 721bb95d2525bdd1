"""The Recipient Validation page of the Web UI in a real browser (issue 17, CONTRACT §13):
tests/webui/validation.test.mjs (playwright-core driving Debian's chromium) against a real
gateway whose recipient_validation has no method: the lookup test (page and API) answers
"accepted, not validated"; every verdict's display is covered with a fake hook by the unit test
src/webui/validation_page_test.cc, and the RCPT-time answers with a real slapd by
test_recipient_validation.py. Afterwards this file checks the config file, check-config and the
audit line. Screenshots: tests/out/webui-validation/ (git-ignored)."""
import os
import subprocess
import tempfile

from browser import out_dir, require_browser, run_webui
from harness import BIN, Gateway

OUT = out_dir("webui-validation")


def api_test(g, address):
    return g.api("/api/v1/recipient-validation/test", {"address": address})


def test_webui_recipient_validation_in_chromium():
    require_browser()
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

        run_webui("validation.test.mjs", g,
                  WEBUI_URL=f"http://127.0.0.1:{g.admin_port}",
                  WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
                  WEBUI_OUT=OUT)

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
