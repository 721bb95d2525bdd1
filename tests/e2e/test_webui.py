"""The administrator's Web UI in a real browser (issue 6): the gateway with a next hop and a
STARTTLS intake, then tests/webui/webui.test.mjs (playwright-core driving Debian's chromium):
log in, set a custom intake address on the Support policy, send a message, see the.tdc.queue in
Delivery Status and the TDC line in Message Tracking; CSRF and login redirects; policy add,
edit, reorder, delete. Afterwards this file checks what the peers received and the config file.
Screenshots: tests/out/webui/ (git-ignored)."""
import os
import tempfile

from browser import out_dir, require_browser, run_webui
from peers import Sink
from tdc_fixtures import A, B, intake_certs, tdc_gateway

OUT = out_dir("webui")
CUSTOM = "a1b2c3d4-0000-4000-8000-00000000000c@intake.test"
MESSAGE_ID = "<webui-check@sender.test>"


def policy_tdc(config):
    """{policy name: its threat_defense_connector value} of incoming_mail_policies, as written."""
    found, name = {}, None
    for line in config.split("incoming_mail_policies:\n", 1)[1].splitlines():
        if not line.startswith("  "):
            break
        if line.startswith("  - name: "):
            name = line[len("  - name: "):]
        elif line.startswith("    threat_defense_connector: "):
            found[name] = line[len("    threat_defense_connector: "):]
    return found


def test_webui_in_chromium():
    require_browser()
    workdir = tempfile.mkdtemp(prefix="tidegate-webui-")
    certs = intake_certs(workdir)
    with Sink() as next_hop, Sink(certs=certs, require_tls=True) as intake, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            run_webui("webui.test.mjs", g,
                      WEBUI_URL=f"http://127.0.0.1:{g.admin_port}",
                      WEBUI_USER="admin", WEBUI_PASSWORD="test-password",
                      SMTP_PORT=str(g.port), CUSTOM_INTAKE=CUSTOM, GLOBAL_INTAKE=A,
                      MESSAGE_ID=MESSAGE_ID, WEBUI_OUT=OUT)

            # The copy went to the address set through the UI, over TLS; the original onwards.
            copies = intake.wait_messages(1)
            assert [c.rcpt_tos for c in copies] == [[CUSTOM]], [c.rcpt_tos for c in copies]
            assert copies[0].tls_version in ("TLSv1.2", "TLSv1.3")
            originals = next_hop.wait_messages(1)
            assert [m.rcpt_tos for m in originals] == [["sue@support.example.com"]]
            assert MESSAGE_ID.encode() in originals[0].data
            assert copies[0].mail_from in ("", "<>")

            # Committed through the ConfigEditor: the file says so, and the UI audited it.
            config = open(g.config_path).read()
            assert policy_tdc(config) == {"Sales": "{intake_address: %s}" % B,
                                          "Legal": "off",
                                          "Support": "{intake_address: %s}" % CUSTOM,
                                          "DEFAULT": "global"}, config
            assert config.count(CUSTOM) == 1, config
            assert "WebTest" not in config
            assert os.path.exists(g.config_path + ".prev")
            log = g.mail_log()
            assert "via=ui" in log and f"policyconfig tdc Support custom {CUSTOM}" in log, log
            # The post without a CSRF token changed nothing.
            assert "evil@intake.test" not in config
        finally:
            g.cleanup()
