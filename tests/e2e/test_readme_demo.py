"""The README's demo, verbatim (issue 14, "The first-run path"): every command shown in README.md's
"Try it" section runs exactly as written, in order, against `make run`'s demo with its default
ports and its run/, and each must succeed; the output lines the README shows (`... Info: ...`)
must appear in the output of the command above them. A package the README's commands need and
`make deps` does not install (swaks' TLS modules for `-tls`, curl) fails this test.

To run the commands unchanged without touching the user's demo:
  * the work tree is a scratch copy: examples/ and scripts/run-demo.sh copied, build/tidegate a
    symlink to the binary under test (TIDEGATE_BIN), run/ created fresh by the demo; so
    `tdcconfig disable` rewrites the copy's examples/gateway.yaml, not the work tree's;
  * the test runs in its own network namespace (root: unshare(CLONE_NEWNET)), so the demo's
    fixed ports 2525, 2626, 2727, 8080, 8081 and 5353 are free whatever runs on the machine.
Between the swaks step and the next, the test waits for the events the README's later steps show
(the delivery, the journal copy stored), as a reader would; after each later swaks, for the
gateway's decision on that message. Step 6's outcomes are then checked from the mail logs, the
mailbox and the quarantine: the clean message delivered and journaled, GTUBE in the Spam quarantine
(and nowhere else), EICAR dropped (and nowhere)."""
import ctypes
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from harness import BIN, interrupt

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLONE_NEWNET = 0x40000000


def readme_demo():
    """[(command, [expected output line, ...])] from README.md's "Try it" section: every indented
    line is a command, except lines starting with `...`, which are output the README shows for
    the command above them."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = re.search(r"^## Try it\n(.*?)^## ", text, re.S | re.M)
    assert section, "README.md has no '## Try it' section"
    steps = []
    for line in section.group(1).splitlines():
        if not line.startswith("    ") or not line.strip():
            continue
        line = line.strip()
        if line.startswith("..."):
            assert steps, f"README output line before any command: {line}"
            steps[-1][1].append(line)
        else:
            steps.append((line, []))
    return steps


def shown_line_pattern(shown):
    """The README's `...` stands for any text."""
    return re.compile(".*".join(re.escape(part) for part in shown.split("...")))


def private_network():
    """Moves this process (and so every child) into a new network namespace with loopback up."""
    if os.geteuid() != 0:
        pytest.skip("a private network namespace for the demo's fixed ports needs root")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        pytest.skip(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)


def scratch_work_tree(tree):
    shutil.copytree(os.path.join(ROOT, "examples"), tree / "examples")
    # run-demo.sh and what it runs: engine_configs.py, make-test-clamav-db.py.
    shutil.copytree(os.path.join(ROOT, "scripts"), tree / "scripts")
    # ... and the demo's slapd: the e2e fixture's `slapd.py serve` (with what it imports).
    shutil.copytree(os.path.join(ROOT, "tests", "e2e"), tree / "tests" / "e2e",
                    ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    (tree / "build").mkdir()
    os.symlink(os.path.abspath(BIN), tree / "build" / "tidegate")


def wait_for(what, check, timeout=60):
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def queued_mid(output):
    m = re.search(r"250 2\.0\.0 Ok: queued as (\d+)", output)
    assert m, output
    return int(m.group(1))


def decided(log, mid):
    """The gateway's decision on MID `mid` from its mail log: delivered, quarantined or dropped."""
    return re.search(rf"(Message finished MID {mid} done|MID {mid} quarantined to "
                      rf"|Message aborted MID {mid} )", log)


def journal_copy_of(log, mid):
    m = re.search(rf"MID (\d+) generated based on MID {mid} by Threat Defense Connector", log)
    return int(m.group(1)) if m else None


def mailbox_subjects(tree):
    folder = tree / "run" / "mailbox" / "new"
    return [re.search(r"(?m)^Subject: (.*)$", read(folder / name)).group(1)
            for name in sorted(os.listdir(folder))]


def test_readme_try_it_commands_run_verbatim(tmp_path):
    steps = readme_demo()
    commands = [c for c, _ in steps]
    assert len(commands) >= 8 and commands[0].startswith("swaks ") and " -tls" in commands[0], \
        commands
    private_network()
    tree = tmp_path / "tidegate"
    scratch_work_tree(tree)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_DEMO_")}
    out_path = tmp_path / "demo.out"
    with open(out_path, "wb") as out:
        demo = subprocess.Popen([str(tree / "scripts" / "run-demo.sh")], cwd=tree, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def running():
            assert demo.poll() is None, read(out_path)
            return "demo is running" in read(out_path)
        wait_for("running demo", running, timeout=90)

        gateway_log = tree / "run" / "gateway" / "mail_logs" / "mail.current"
        intake_log = tree / "run" / "intake" / "mail_logs" / "mail.current"
        outputs = []
        sent = {}  # step 6: the Subject of each swaks message → its MID
        for i, (command, shown) in enumerate(steps):
            r = subprocess.run(["bash", "-c", command], cwd=tree, env=env, capture_output=True,
                               text=True, timeout=60)
            output = r.stdout + r.stderr
            outputs.append(output)
            # Step 7's RCPT checks: swaks exits 24 when the RCPT is refused (what it shows).
            rcpt_check = "--quit-after RCPT" in command
            allowed = (0, 24) if rcpt_check else (0,)
            assert r.returncode in allowed, \
                f"README command failed ({r.returncode}): {command}\n{output}"
            for line in shown:
                pattern = shown_line_pattern(line)
                assert any(pattern.fullmatch(o) for o in output.splitlines()), \
                    f"README shows '{line}' for `{command}`; its output:\n{output}"
            if i == 0:
                # What the README's next steps show: the delivery and the stored journal copy.
                wait_for("delivery", lambda: "Message finished MID 1 done" in read(gateway_log))
                wait_for("journal copy", lambda: "TDC: MID 2 successfully delivered"
                         in read(gateway_log))
                wait_for("stored copy", lambda: "stored for account demo" in read(intake_log))
            elif command.startswith("swaks ") and not rcpt_check:
                mid = queued_mid(output)
                subject = re.search(r"--header 'Subject: (\w+)'", command).group(1)
                sent[subject] = mid
                wait_for(f"decision on MID {mid}", lambda: decided(read(gateway_log), mid))
                if subject == "clean":
                    wait_for("its journal copy delivered", lambda: re.search(
                        rf"TDC: MID {journal_copy_of(read(gateway_log), mid)} successfully "
                        "delivered", read(gateway_log)))
                    wait_for("its journal copy stored",
                             lambda: read(intake_log).count("stored for account demo") == 2)
        # What the README says about the outputs.
        by_command = dict(zip(commands, outputs))
        assert "250 2.0.0 Ok: queued as" in outputs[0], outputs[0]
        mailbox = next(o for c, o in by_command.items() if c.startswith("cat run/mailbox/"))
        assert "X-IronPort-RemoteIP: 127.0.0.1" in mailbox and "Received:" in mailbox, mailbox
        console = next(o for c, o in by_command.items() if c.startswith("curl "))
        assert re.search(r'"remote_ip":\s*"127\.0\.0\.1"', console), console

        # Step 6: clean delivered and journaled; GTUBE quarantined; EICAR dropped.
        assert sorted(sent) == ["EICAR", "GTUBE", "clean"], sent
        log = read(gateway_log)
        clean, gtube, eicar = sent["clean"], sent["GTUBE"], sent["EICAR"]
        assert f"Message finished MID {clean} done" in log, log
        assert journal_copy_of(log, clean) is not None, log
        assert f'MID {gtube} quarantined to "Spam" (antispam)' in log, log
        assert re.search(rf"MID {eicar} antivirus positive 'Eicar-Test-Signature", log), log
        assert f"Message aborted MID {eicar} Dropped by antivirus" in log, log
        for mid in (gtube, eicar):
            assert journal_copy_of(log, mid) is None, log
            assert f"Message finished MID {mid} done" not in log, log
        # The mailbox: step 1's message and the clean one, nothing else.
        subjects = mailbox_subjects(tree)
        assert len(subjects) == 2 and "clean" in subjects, subjects
        # Step 7: the directory was asked, the unknown recipient refused and logged.
        wait_for("the refusal in the mail log", lambda: "rejected RCPT <nobody@example.com>: "
                 "ldap no entry" in read(gateway_log))
        # The quarantine holds GTUBE alone, in Spam.
        listing = subprocess.run([str(tree / "build" / "tidegate"), "-c", "examples/gateway.yaml",
                                  "quarantine", "list", "--json"], cwd=tree, capture_output=True,
                                 text=True, timeout=60)
        assert listing.returncode == 0, listing.stderr
        held = json.loads(listing.stdout)
        assert [(m["mid"], m["quarantine"]) for m in held["messages"]] == [(gtube, "Spam")], held
    finally:
        interrupt(demo)
