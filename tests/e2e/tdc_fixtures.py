"""Shared setup for the Threat Defense Connector scenarios: a gateway whose DEFAULT policy
journals to intake A, Sales to a custom intake B, Legal not at all, Support "(use default)"."""
import os
import re

from harness import Gateway, make_certs

A = "a1b2c3d4-0000-4000-8000-00000000000a@intake.test"
B = "a1b2c3d4-0000-4000-8000-00000000000b@intake.test"

POLICIES = """\
incoming_mail_policies:
  - name: Sales
    recipients: ["@sales.example.com"]
    threat_defense_connector: {intake_address: %s}
  - name: Legal
    recipients: ["@legal.example.com"]
    threat_defense_connector: off
  - name: Support
    recipients: ["@support.example.com"]
    threat_defense_connector: default
  - name: DEFAULT
    threat_defense_connector: global
""" % B


def intake_certs(workdir):
    return make_certs(os.path.join(workdir, "intake-certs"), names=("intake.test", "localhost"))


def tdc_gateway(workdir, intake_port, next_hop_port, dsn_port, ca, max_queue_time="60s",
                retry_delay="1s", extra="", routes_extra="", intake_route=True,
                delivery_extra=""):
    routes = (f"smtp_routes:\n  example.com: [127.0.0.1:{next_hop_port}]\n"
              f"  .example.com: [127.0.0.1:{next_hop_port}]\n"
              f"  sender.test: [127.0.0.1:{dsn_port}]\n")
    if intake_route:
        routes += f"  intake.test: [127.0.0.1:{intake_port}]\n"
    routes += routes_extra
    yaml = (routes +
            "delivery:\n  retry: {initial: 1s, max_interval: 2s, max_queue_time: 1h}\n" +
            delivery_extra +
            "threat_defense_connector:\n"
            "  enabled: true\n"
            f"  intake_address: {A}\n"
            "  service_name: Secure Email Threat Defense\n"
            "  min_connections: 3\n"
            "  max_connections: 20\n"
            f"  max_queue_time: {max_queue_time}\n"
            f"  retry_delay: {retry_delay}\n"
            f"  tls_ca_file: {ca}\n" + extra)
    return Gateway(workdir=workdir, extra_yaml=yaml, policies=POLICIES,
                   accepted=("example.com", ".example.com"))


def parse_journal(data: bytes):
    """(text part, embedded original bytes) of a journal report, read strictly by boundary."""
    head, _, _ = data.partition(b"\r\n\r\n")
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", head)
    m = re.search(rb'(?im)^Content-Type:\s*multipart/mixed;.*boundary="?([^";\r\n]+)"?', unfolded)
    assert m, head
    delim = b"\r\n--" + m.group(1)
    body = data[len(head) + 4:]
    body = b"\r\n" + body  # so that the first delimiter also has its CRLF
    parts = body.split(delim)
    # parts[0] is the preamble, parts[-1] starts with "--" (close delimiter)
    assert parts[-1].startswith(b"--"), parts[-1][:20]
    real = [p[2:] for p in parts[1:-1]]  # drop the CRLF after each delimiter line
    assert len(real) == 2, len(real)

    def split(part):
        h, _, b = part.partition(b"\r\n\r\n")
        return h, b

    th, text = split(real[0])
    oh, original = split(real[1])
    assert b"text/plain" in th.lower(), th
    assert b"message/rfc822" in oh.lower(), oh
    return text.decode("utf-8", "replace"), original
