"""The syslog copy of the mail log (CONTRACT §12, issue 19) against a real receiver: a private
rsyslogd (Debian rsyslog) with UDP, TCP and Unix-socket inputs writing PRI, APP-NAME, PROCID,
HOSTNAME and MSG of every message to a file. Every line of the gateway's mail log must arrive, in
order, as MSG exactly (the file line after its timestamp), program name `mail_logs`, severity
from the level: over UDP (RFC 5424), TCP with octet counting (RFC 5424 and RFC 3164) and a Unix
datagram socket. The log's quoting is the ESA's (Python repr()), checked on the way. An absent
receiver never delays mail, and its drops are counted in `status`."""
import base64
import json
import os
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
import urllib.request

import pytest

from harness import BIN, Gateway, free_port, free_ports, tcp_open, timing_slack

SEVERITY = {"Debug": 7, "Info": 6, "Warning": 4, "Critical": 2}
FACILITY = {"mail": 2, "local3": 19}


class Rsyslog:
    """rsyslogd -n with a config of its own in a temp dir; stopped by its PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tidegate-rsyslog-")
        ports = free_ports(["udp", "tcp"], udp=("udp",))
        self.udp_port, self.tcp_port = ports["udp"], ports["tcp"]
        self.socket = os.path.join(self.dir, "log.sock")
        self.out = os.path.join(self.dir, "received.log")
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        with open(self.conf, "w") as f:
            f.write(f"""\
global(workDirectory="{self.dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="fields" type="string"
         string="%PRI%|%APP-NAME%|%PROCID%|%HOSTNAME%|%msg%\\n")
ruleset(name="fromgw") {{
  action(type="omfile" file="{self.out}" template="fields")
}}
input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="fromgw")
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="fromgw")
input(type="imuxsock" Socket="{self.socket}" ruleset="fromgw" UseSpecialParser="off"
      ParseHostname="on" UseSysTimeStamp="off")
""")
        check = subprocess.run(["rsyslogd", "-N1", "-f", self.conf], capture_output=True,
                               text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        self.stderr = open(os.path.join(self.dir, "rsyslogd.err"), "wb")
        self.proc = subprocess.Popen(
            ["rsyslogd", "-n", "-f", self.conf, "-i", os.path.join(self.dir, "rsyslogd.pid")],
            stdout=self.stderr, stderr=self.stderr)
        deadline = time.time() + 15
        while not (tcp_open(self.tcp_port) and os.path.exists(self.socket)):
            assert self.proc.poll() is None, open(self.stderr.name).read()
            assert time.time() < deadline, "rsyslogd did not open its inputs"
            time.sleep(0.05)

    def records(self):
        """[(pri, app, procid, hostname, msg)] received so far, in order."""
        try:
            with open(self.out, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            pri, app, procid, host, msg = line.split("|", 4)
            out.append((int(pri), app, procid, host, msg))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # our child, by its PID
            self.proc.wait(timeout=30)
        if os.environ.get("KEEP_TEST_DIRS") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def rsyslog():
    r = Rsyslog()
    yield r
    r.stop()


def file_lines(g):
    """The mail log's lines as (level, text after the timestamp)."""
    with open(os.path.join(g.data_dir, "mail_logs", "mail.current"), encoding="utf-8",
              errors="surrogateescape") as f:
        lines = f.read().splitlines()
    # "Fri Feb 16 21:19:22 2024 Info: …": asctime is 24 characters, then a space.
    return [(line[25:].split(":", 1)[0], line[25:]) for line in lines]


# A subject with an apostrophe (quoted "…" by the ESA), one with both quote characters and a
# backslash ('…\'…\\…'), and non-ASCII text kept as it is.
SUBJECTS = ["It's done", "say \"hi\" it's a \\ test", "Grüße aus Köln"]


def send_mails(g):
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        for i, subject in enumerate(SUBJECTS):
            msg = (f"Subject: {subject}\r\nMessage-ID: <o'brien.{i}@sender.test>\r\n\r\n"
                   "body\r\n").encode()
            s.sendmail("alice@sender.test", ["bob@example.com"], msg)


@pytest.mark.parametrize("protocol,fmt,facility", [
    ("udp", "rfc5424", "mail"),
    ("tcp", "rfc5424", "mail"),
    ("tcp", "rfc3164", "local3"),
    ("unix", "rfc5424", "mail"),
])
def test_every_mail_log_line_arrives_as_msg(rsyslog, protocol, fmt, facility):
    if protocol == "unix":
        address = f"'unix:{rsyslog.socket}'"
        proto_line = ""
    else:
        address = f"127.0.0.1:{rsyslog.udp_port if protocol == 'udp' else rsyslog.tcp_port}"
        proto_line = f"    protocol: {protocol}\n"
    g = Gateway(extra_yaml=("log:\n  syslog:\n"
                            f"    address: {address}\n{proto_line}"
                            f"    facility: {facility}\n    format: {fmt}\n"))
    try:
        g.start()
        pid = str(g.proc.pid)
        send_mails(g)
        for i, subject in enumerate(SUBJECTS):
            # Python's repr() is exactly the ESA's quoting.
            g.wait_log(f"Subject {subject!r}")
            message_id = f"<o'brien.{i}@sender.test>"
            g.wait_log(f"Message-ID {message_id!r}")
        assert 'Subject "It\'s done"' in g.mail_log()
        assert "Subject 'say \"hi\" it\\'s a \\\\ test'" in g.mail_log()
        assert g.stop() == 0  # the last lines ("tidegate stopped") go out before it exits
        lines = file_lines(g)
        assert lines[1][1].startswith("Info: Version: "), lines[:3]
        deadline = time.time() + 15
        while len(rsyslog.records()) < len(lines) and time.time() < deadline:
            time.sleep(0.05)
        got = rsyslog.records()
        # RFC 3164's MSG is what follows "TAG:", which rsyslog's %msg% keeps with its space.
        msgs = [r[4][1:] if fmt == "rfc3164" else r[4] for r in got]
        assert msgs == [text for _, text in lines]
        for (pri, app, procid, host, _), (level, _) in zip(got, lines):
            assert pri == FACILITY[facility] * 8 + SEVERITY[level], (pri, level)
            assert (app, procid, host) == ("mail_logs", pid, "gw.test.example")
    finally:
        g.cleanup()


def smtp_250_seconds(g, n):
    """Seconds from the end of DATA to the 250, for n messages on one connection."""
    times = []
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        assert s.ehlo()[0] == 250
        for i in range(n):
            assert s.mail("alice@sender.test")[0] == 250
            assert s.rcpt("bob@example.com")[0] == 250
            s.putcmd("data")
            assert s.getreply()[0] == 354
            s.send(f"Subject: timing {i}\r\n\r\n{'x' * 200}\r\n.\r\n".encode())
            start = time.monotonic()
            code, _ = s.getreply()
            times.append(time.monotonic() - start)
            assert code == 250
    return sorted(times)


def status(g, *args):
    r = subprocess.run([BIN, "-c", g.config_path, "status", *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def metric_value(g, name):
    """The value of an unlabelled series in /metrics on admin.bind (HTTP Basic), or None."""
    req = urllib.request.Request(f"http://127.0.0.1:{g.admin_port}/metrics")
    token = base64.b64encode(b"admin:test-password").decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_absent_receiver_never_delays_mail_and_drops_are_counted():
    closed = free_port()  # nothing listens: every TCP connect is refused, then retried
    g = Gateway(extra_yaml=("log:\n  syslog:\n"
                            f"    address: 127.0.0.1:{closed}\n    protocol: tcp\n"
                            "    buffer: 4k\n"))
    base = Gateway()
    try:
        base.start()
        g.start()
        normal = smtp_250_seconds(base, 40)
        absent = smtp_250_seconds(g, 40)
        # The same medians within noise, and no message waits for the receiver (the sender
        # retries for up to 5 s per connect and 30 s between tries: any wait would show).
        slack = timing_slack()
        assert absent[len(absent) // 2] < max(5 * normal[len(normal) // 2], 0.05) * slack, (
            normal, absent)
        assert absent[-1] < 1.0 * slack, absent
        st = json.loads(status(g, "--json"))["syslog"]
        assert st["target"] == f"tcp 127.0.0.1:{closed}"
        assert st["connected"] is False
        assert st["sent"] == 0
        assert st["dropped"] > 0, st  # 40 messages log far more than 4 KiB
        assert "Connection refused" in st["last_error"], st
        text = status(g)
        assert f"Syslog: tcp 127.0.0.1:{closed}, not connected, 0 sent, " in text, text
        assert " dropped" in text
        assert "syslog" not in json.loads(status(base, "--json"))
        # The same figure in /metrics (CONTRACT §12), and not exported without log.syslog.
        dropped = metric_value(g, "tidegate_syslog_dropped_total")
        assert dropped is not None and dropped >= st["dropped"], (dropped, st)
        assert metric_value(base, "tidegate_syslog_dropped_total") is None
    finally:
        g.cleanup()
        base.cleanup()
