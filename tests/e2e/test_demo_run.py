"""`make run` (CONTRACT §1, issue 7): scripts/run-demo.sh comes up from the work tree, the README's
swaks line delivers a message to the mailbox, scanned by the demo's own rspamd and clamd, and its
journal copy appears in the intake console's API with the right remote IP; SIGINT (Ctrl-C) then
stops every process (the engines and their workers too) and frees every port.

The demo runs on free ports and in a temporary run directory (run-demo.sh's TIDEGATE_DEMO_*
variables), so it never collides with a `make run` and never writes into the work tree's run/.
tests/e2e/test_readme_demo.py runs the demo with its default ports, as the README shows it."""
import base64
import json
import os
import re
import shlex
import subprocess
import time
import urllib.request

from harness import free_ports, interrupt, tcp_open


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NAMES = ("SMTP", "MAILBOX", "INTAKE", "ADMIN", "CONSOLE", "DNS", "RSPAMD", "CLAMD", "LDAP")


def udp_bound(port):
    out = subprocess.run(["ss", "-Hlun", f"( sport = :{port} )"], capture_output=True,
                         text=True, timeout=10).stdout
    return bool(out.strip())


def busy_ports(ports):
    return ([p for p in ports.values() if tcp_open(p)]
            + ([ports["DNS"]] if udp_bound(ports["DNS"]) else []))


def readme_swaks_line():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip().startswith("swaks ")]
    assert lines, "README.md has no swaks line"
    return lines[0]


def snapshot(path):
    """Every file under path with its size and mtime (empty when path does not exist)."""
    return {os.path.join(d, f): (os.stat(os.path.join(d, f)).st_size,
                                 os.stat(os.path.join(d, f)).st_mtime_ns)
            for d, _, files in os.walk(path) for f in files}


def api(port, path, password):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    req.add_header("Authorization",
                   "Basic " + base64.b64encode(f"admin:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


def test_make_run_demo_end_to_end(tmp_path):
    ports = free_ports(NAMES, udp=("DNS",))
    run = tmp_path / "run"
    env = dict(os.environ, TIDEGATE_DEMO_RUN_DIR=str(run),
               **{f"TIDEGATE_DEMO_{name}_PORT": str(port) for name, port in ports.items()})
    work_tree_run = os.path.join(ROOT, "run")
    before_run = (os.path.exists(work_tree_run), snapshot(work_tree_run))
    out_path = tmp_path / "demo.out"
    out = open(out_path, "wb")
    proc = subprocess.Popen([os.path.join(ROOT, "scripts", "run-demo.sh")], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    console = ports["CONSOLE"]
    try:
        # The first run also generates the CA and certificates.
        deadline = time.time() + 90
        while not (tcp_open(ports["SMTP"]) and tcp_open(ports["INTAKE"]) and tcp_open(console)
                   and "demo is running" in out_path.read_text(errors="replace")):
            assert proc.poll() is None, out_path.read_text(errors="replace")
            assert time.time() < deadline, out_path.read_text(errors="replace")
            time.sleep(0.2)
        printed = out_path.read_text(errors="replace")
        # The README's line, with the port this demo was given.
        swaks = readme_swaks_line().replace("127.0.0.1:2525 ", f"127.0.0.1:{ports['SMTP']} ")
        assert swaks in printed, "the demo and the README must print the same swaks line"
        with open(run / "intake.password") as f:
            password = f.readline().strip()
        assert f"http://127.0.0.1:{console} (admin / {password})" in printed
        assert f"{run}/gateway/mail_logs/mail.current" in printed
        assert f"rspamd on 127.0.0.1:{ports['RSPAMD']} " in printed, printed
        assert f"clamd on 127.0.0.1:{ports['CLAMD']} " in printed, printed
        assert f"slapd on 127.0.0.1:{ports['LDAP']}:" in printed, printed

        before = {m["id"] for m in api(console, "/api/v1/messages?account=demo", password)}
        mailbox = run / "mailbox" / "new"
        mails_before = set(os.listdir(mailbox)) if os.path.isdir(mailbox) else set()
        sent = subprocess.run(shlex.split(swaks), capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        queued = re.search(r"250 2\.0\.0 Ok: queued as (\d+)", sent.stdout)
        assert queued, sent.stdout

        deadline = time.time() + 60
        new = []
        while time.time() < deadline and not new:
            new = [m for m in api(console, "/api/v1/messages?account=demo", password)
                   if m["id"] not in before]
            time.sleep(0.2)
        assert len(new) == 1, new
        m = new[0]
        assert m["sender"] == "alice@sender.example"
        assert m["recipients"] == ["bob@example.com"]
        assert m["remote_ip"] == "127.0.0.1"
        assert m["journal"] is True
        assert m["message_id"]
        deadline = time.time() + 30
        while time.time() < deadline and set(os.listdir(mailbox)) == mails_before:
            time.sleep(0.1)
        assert set(os.listdir(mailbox)) != mails_before
        # Scanned by both engines on the ports this demo was given.
        log = (run / "gateway" / "mail_logs" / "mail.current").read_text()
        mid = queued.group(1)
        assert re.search(rf"MID {mid} using engine: RSPAMD spam negative score", log), log
        assert f"MID {mid} antivirus negative" in log, log
    finally:
        try:
            interrupt(proc)
        finally:
            out.close()
    deadline = time.time() + 10
    while busy_ports(ports) and time.time() < deadline:
        time.sleep(0.1)
    assert busy_ports(ports) == [], out_path.read_text(errors="replace")
    # No process of the demo's group is left behind.
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
    # Everything went to the temporary run directory.
    assert (os.path.exists(work_tree_run), snapshot(work_tree_run)) == before_run, \
        "the demo wrote into the work tree's run/"
    assert (run / "tls" / "ca.crt").is_file()
    # The configurations it ran: no default port and no ../run/ left in them.
    for name in ("gateway.yaml", "intake.yaml"):
        text = (run / name).read_text()
        left = re.findall(r"127\.0\.0\.1:(?:2525|2626|2727|8080|8081|5353|2828|2929)\b|\.\./run/",
                          text)
        assert not left, f"{name} still has {left}"
