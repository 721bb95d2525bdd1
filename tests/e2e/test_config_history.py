"""Configuration history (CONTRACT §12, issue 19) with the real CLI and real SMTP mail: the
configuration at first start is entry 1; every committed CLI change is one entry with the
invoking Unix user and its --comment; a refused change records nothing; `configs diff` shows the
change; `configs rollback 1` commits entry 1 as a new entry ("rollback to 1") that the file and
the mail flow follow (the journal copy goes back to the first intake address); a restart keeps the
history; a hand edit (found at start, or loaded by SIGHUP) is an entry of user `file`."""
import json
import os
import pwd
import tempfile

from peers import Sink
from tdc_fixtures import A, B, intake_certs, tdc_gateway
from test_operator import cli, send, wait_for

C = "c3c3c3c3-0000-4000-8000-00000000000c@intake.test"


def entries(g):
    return json.loads(cli(g, "configs", "list", "--json").stdout)


def test_config_history_end_to_end():
    workdir = tempfile.mkdtemp(prefix="tidegate-hist-")
    certs = intake_certs(workdir)
    me = pwd.getpwuid(os.geteuid()).pw_name  # the invoking Unix user, as the CLI names it
    with Sink() as next_hop, Sink(certs=certs) as intake, Sink() as dsn:
        g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"]).start()
        try:
            first_text = open(g.config_path).read()
            # --- entry 1: the configuration at first start ------------------------------------
            e = entries(g)
            assert len(e) == 1, e
            assert e[0]["number"] == 1 and e[0]["user"] == "file"
            assert e[0]["comment"] == "configuration at first start"
            assert e[0]["time"].endswith("Z") and e[0]["time"][10] == "T", e[0]
            assert cli(g, "configs", "show", "1").stdout == first_text

            # --- two CLI changes with --comment: entries 2 and 3 -------------------------------
            cli(g, "tdcconfig", "enable", C, "--comment", "new intake for everyone")
            cli(g, "policyconfig", "tdc", "Legal", "custom", B, "--comment", "legal journaled")
            # A refused change (and a no-op) records nothing.
            assert cli(g, "tdcconfig", "enable", "not-an-address", "--comment", "bad",
                       check=False).returncode == 1
            e = entries(g)
            assert [x["number"] for x in e] == [1, 2, 3], e
            assert (e[1]["user"], e[1]["comment"]) == (me, "new intake for everyone")
            assert (e[2]["user"], e[2]["comment"]) == (me, "legal journaled")
            assert cli(g, "configs", "show", "3").stdout == open(g.config_path).read()
            table = cli(g, "configs", "list").stdout.splitlines()
            assert table[0].split() == ["Number", "Time", "(UTC)", "User", "Comment"]
            assert table[3].split()[0] == "3" and table[3].endswith("legal journaled")

            send(g, "joe@example.com", "beforerollback")
            wait_for(lambda: len(intake.messages) == 1)
            assert intake.messages[-1].rcpt_tos == [C]

            # --- configs diff 1 3: the two changes as a unified diff ---------------------------
            diff = cli(g, "configs", "diff", "1", "3").stdout
            lines = diff.splitlines()
            assert lines[0].startswith("--- config #1 (") and lines[1].startswith("+++ config #3 (")
            assert f"-  intake_address: {A}" in lines and f"+  intake_address: {C}" in lines, diff
            assert "-    threat_defense_connector: off" in lines, diff
            assert any(l.startswith("+") and B in l and "Legal" not in l for l in lines), diff
            assert cli(g, "configs", "diff", "3", "3").stdout == ""
            assert cli(g, "configs", "diff", "1", "99", check=False).returncode == 1
            assert cli(g, "configs", "diff", "1", check=False).returncode == 2

            # --- rollback 1: a new entry, the file and the mail flow are back ------------------
            out = cli(g, "configs", "rollback", "1").stdout
            assert "entry 4" in out, out
            e = entries(g)
            assert len(e) == 4 and (e[3]["user"], e[3]["comment"]) == (me, "rollback to 1"), e
            assert open(g.config_path).read() == first_text
            assert cli(g, "configs", "show", "4").stdout == first_text
            send(g, "joe@example.com", "afterrollback")
            wait_for(lambda: len(intake.messages) == 2)
            assert intake.messages[-1].rcpt_tos == [A]
            assert cli(g, "configs", "rollback", "77", check=False).returncode == 1

            # --- restart keeps the history and adds nothing ------------------------------------
            assert g.stop() == 0
            g.start()
            assert entries(g) == e

            # --- a hand edit found at start is an entry of user `file` -------------------------
            assert g.stop() == 0
            edited = first_text.replace("  min_connections: 3\n", "  min_connections: 4\n")
            assert edited != first_text
            with open(g.config_path, "w") as f:
                f.write(edited)
            g.start()
            e = entries(g)
            assert len(e) == 5 and e[4]["user"] == "file", e
            assert "edited by hand" in e[4]["comment"], e
            assert "+  min_connections: 4" in cli(g, "configs", "diff", "4", "5").stdout

            # --- and one loaded by SIGHUP too ------------------------------------------------
            with open(g.config_path, "w") as f:
                f.write(first_text)
            g.proc.send_signal(1)
            wait_for(lambda: len(entries(g)) == 6)
            assert entries(g)[5]["user"] == "file"
            assert cli(g, "configs", "show", "6").stdout == first_text
            assert os.path.isfile(os.path.join(g.data_dir, "config-history", "6.json"))
        finally:
            g.cleanup()
