"""`make run` (CONTRACT §1, issue 7): scripts/run-demo.sh comes up from the work tree, the README's
swaks line delivers a message to the mailbox and its journal copy appears in the intake console's
API with the right remote IP; SIGINT (Ctrl-C) then stops every process and frees every port.

The demo uses fixed ports, so ctest runs this file alone (RUN_SERIAL); it is skipped when one of
them is already taken (another demo running)."""
import base64
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TCP_PORTS = (2525, 2626, 2727, 8080, 8081, 5353)
DNS_PORT = 5353


def tcp_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def udp_bound(port):
    out = subprocess.run(["ss", "-Hlun", f"( sport = :{port} )"], capture_output=True,
                         text=True, timeout=10).stdout
    return bool(out.strip())


def busy_ports():
    return [p for p in TCP_PORTS if tcp_open(p)] + ([DNS_PORT] if udp_bound(DNS_PORT) else [])


def readme_swaks_line():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip().startswith("swaks ")]
    assert lines, "README.md has no swaks line"
    return lines[0]


def api(path, password):
    req = urllib.request.Request(f"http://127.0.0.1:8081{path}")
    req.add_header("Authorization",
                   "Basic " + base64.b64encode(f"admin:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


def test_make_run_demo_end_to_end(tmp_path):
    busy = busy_ports()
    if busy:
        pytest.skip(f"demo ports already in use: {busy} (another `make run`?)")
    out_path = tmp_path / "demo.out"
    out = open(out_path, "wb")
    proc = subprocess.Popen([os.path.join(ROOT, "scripts", "run-demo.sh")], cwd=ROOT,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # The first run also generates the CA and certificates.
        deadline = time.time() + 90
        while not (tcp_open(2525) and tcp_open(2727) and tcp_open(8081)
                   and "demo is running" in out_path.read_text(errors="replace")):
            assert proc.poll() is None, out_path.read_text(errors="replace")
            assert time.time() < deadline, out_path.read_text(errors="replace")
            time.sleep(0.2)
        printed = out_path.read_text(errors="replace")
        swaks = readme_swaks_line()
        assert swaks in printed, "the demo and the README must print the same swaks line"
        with open(os.path.join(ROOT, "run", "intake.password")) as f:
            password = f.readline().strip()
        assert f"http://127.0.0.1:8081 (admin / {password})" in printed
        assert "run/gateway/mail_logs/mail.current" in printed

        before = {m["id"] for m in api("/api/v1/messages?account=demo", password)}
        mailbox = os.path.join(ROOT, "run", "mailbox", "new")
        mails_before = set(os.listdir(mailbox)) if os.path.isdir(mailbox) else set()
        sent = subprocess.run(shlex.split(swaks), capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        queued = re.search(r"250 2\.0\.0 Ok: queued as (\d+)", sent.stdout)
        assert queued, sent.stdout

        deadline = time.time() + 60
        new = []
        while time.time() < deadline and not new:
            new = [m for m in api("/api/v1/messages?account=demo", password)
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
    finally:
        # Ctrl-C: the script's trap stops everything it started.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError("run-demo.sh did not stop on SIGINT")
        out.close()
    deadline = time.time() + 10
    while busy_ports() and time.time() < deadline:
        time.sleep(0.1)
    assert busy_ports() == [], out_path.read_text(errors="replace")
    # No process of the demo's group is left behind.
    left = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
