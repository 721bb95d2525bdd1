"""Cluster-wide message tracking in PostgreSQL (issue 18, CONTRACT §11 "Tracking") end to end:
a private PostgreSQL (tests/e2e/postgres.py), two gateways with their own data dirs and machine
names writing to it, real SMTP clients (smtplib), delivery to an aiosmtpd sink.

- A message received on gw1 is found by `track` on gw2, printed under `Machine gw1 MID n`.
- PostgreSQL stopped while mail flows: the 250s stay fast, `status` shows the buffer; started
  again, every event is written exactly once (each message has the history a message sent while
  PostgreSQL was up has; no change lost, none twice).
- kill -9 of the gateway while it ships, then a restart: still exactly once."""
import json
import os
import re
import smtplib
import tempfile
import threading
import time

import pytest

from etcd import EtcdCluster
from harness import Gateway, free_port, timing_slack
from peers import Sink
from postgres import Postgres
from test_admin_hostile import Admin
from test_operator import cli

# The 250 must not wait for tracking: PostgreSQL down costs nothing on the SMTP side. Measured
# around 0.02 s per message here; the bound is generous for a loaded machine.
MAX_250_SECONDS = 2.0


@pytest.fixture(scope="module")
def pg():
    workdir = tempfile.mkdtemp(prefix="tidegate-pgt-")
    p = Postgres(workdir)
    p.__enter__()
    yield p
    p.close()


@pytest.fixture(scope="module")
def etcd():
    workdir = tempfile.mkdtemp(prefix="tidegate-pgt-etcd-")
    cluster = EtcdCluster(workdir, members=1).start()
    yield cluster
    cluster.close()


def tracking_yaml(pg, machine, sink_port, etcd, prefix=None):
    """A cluster machine (its configuration from a private etcd under `prefix`, default one
    of its own) with tracking in PostgreSQL."""
    return (f"smtp_routes:\n  example.com: [127.0.0.1:{sink_port}]\n"
            "cluster:\n"
            "  name: Test_Cluster\n"
            f"  machine: {machine}\n"
            f"  etcd: {{endpoints: [{etcd.client_urls[0]}], prefix: {prefix or '/' + machine + '/'}}}\n"
            "tracking:\n"
            "  backend: postgresql\n"
            f"  postgresql: {{conninfo: \"{pg.conninfo}\", password_file: {pg.password_file}}}\n"
            "  buffer_max: 64M\n")


def wait_for(pred, timeout=30.0, what="condition"):
    deadline = time.time() + timeout * timing_slack()
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in time")


def send(g, subject):
    """Sends one message; returns the seconds from DATA's end to the 250."""
    msg = (f"Subject: {subject}\r\nMessage-ID: <{subject}@sender.test>\r\n\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
        s.ehlo("client.test")
        s.mail("alice@sender.test")
        s.rcpt("bob@example.com")
        began = time.monotonic()
        code, _ = s.data(msg)
        took = time.monotonic() - began
    assert code == 250
    return took


def tracking_status(g):
    return json.loads(cli(g, "status", "--json").stdout)["tracking"]


def events_by_mid(pg, machine):
    rows = pg.sql(f"SELECT mid, text FROM tracking_events WHERE machine = '{machine}' "
                  "ORDER BY mid, time_ms, seq")
    out = {}
    for mid, text in rows:
        out.setdefault(int(mid), []).append(text)
    return out


def mids_in_log(g, prefix):
    """MID → subject for every message whose Subject starts with `prefix`, from the mail log."""
    return {int(m): s for m, s in re.findall(rf"MID (\d+) Subject '({prefix}[^']*)'",
                                             g.mail_log())}


def shape(texts):
    """A history with the per-message values taken out (MIDs, ICIDs, RIDs, times, names)."""
    return [re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'S'", re.sub(r"<[^>]*>", "<A>", t)))
            for t in texts]


def test_message_on_gw1_found_on_gw2(pg, etcd):
    sink = Sink().start()
    g1 = Gateway(accepted=("example.com",), extra_yaml=tracking_yaml(pg, "gw1", sink.port, etcd, "/pair/"))
    g2 = Gateway(accepted=("example.com",), extra_yaml=tracking_yaml(pg, "gw2", sink.port, etcd, "/pair/"))
    try:
        g1.start()
        g2.start()
        send(g1, "cross1")
        g1.wait_log("Message finished", timeout=30)
        mid = int(mids_in_log(g1, "cross1").popitem()[0])
        out = wait_for(lambda: (r := cli(g2, "track", "--message-id", "cross1@sender.test",
                                         check=False)).returncode == 0
                       and "received remote SMTP response" in r.stdout and r.stdout, what="track on gw2")
        lines = out.splitlines()
        assert lines[0] == f"Machine gw1 MID {mid}", out
        assert len(lines) > 2 and all("(GMT " in line for line in lines[1:]), out
        # With angle brackets too, and in JSON with the machine.
        js = json.loads(cli(g2, "track", "--message-id", "<cross1@sender.test>", "--json").stdout)
        assert [(m["machine"], m["mid"]) for m in js] == [("gw1", mid)]
        assert js[0]["events"], js
        # The Web UI on gw2: a Machine column, and the details page of gw1's MID.
        admin = Admin(g2)
        session, _, _ = admin.login()
        status, _, page, _ = admin.request("GET", "/ui/tracking?message_id=cross1%40sender.test",
                                           cookie=session)
        assert status == 200 and b"<th>Machine</th>" in page, page
        assert b'data-machine="gw1"><td>gw1</td>' in page, page
        assert f'/ui/tracking/{mid}?machine=gw1'.encode() in page, page
        status, _, page, _ = admin.request("GET", f"/ui/tracking/{mid}?machine=gw1",
                                           cookie=session)
        assert status == 200 and b'<td id="machine">gw1</td>' in page, page
        assert b"received remote SMTP response" in page, page
        st = cli(g1, "status").stdout
        assert "Tracking: postgresql, connected, buffer 0 B" in st, st
        assert "Message tracking: PostgreSQL connected, machine gw1" in g1.mail_log()
    finally:
        g1.cleanup()
        g2.cleanup()
        sink.stop()


def test_event_texts_with_backslashes_arrive_unchanged(pg, etcd):
    """The events go to PostgreSQL by COPY, whose text format gives a backslash a meaning: a
    sender with a quoted local part (RFC 5321 quoted-pair, `"back\\\\slash"`) must be stored
    exactly as sent."""
    sink = Sink().start()
    g = Gateway(accepted=("example.com",),
                extra_yaml=tracking_yaml(pg, "gwesc", sink.port, etcd, "/esc/"))
    sender = '"back\\\\slash"@sender.test'
    try:
        g.start()
        with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as s:
            s.ehlo("client.test")
            s.sendmail(sender, ["bob@example.com"], "Subject: esc1\r\n\r\nbody\r\n")
        g.wait_log("Message finished", timeout=30)
        mid = int(re.search(r"MID (\d+) Subject ", g.mail_log()).group(1))
        texts = wait_for(lambda: (t := events_by_mid(pg, "gwesc").get(mid)) and
                         any("received remote SMTP response" in x for x in t) and t,
                         what="events in PostgreSQL")
        received = [t for t in texts if t.startswith(f"Message {mid} received from ")]
        assert received == [f"Message {mid} received from <{sender}> for 1 recipient(s), "
                            f"{received[0].rsplit(', ', 1)[1]}"], texts
        assert "\\\\" in received[0]  # two backslashes, as sent
    finally:
        g.cleanup()
        sink.stop()


def shipped_migrations(count):
    """The first `count` migrations' SQL, as shipped in src/telemetry/pg_tracking.cc."""
    source = open(os.path.join(os.path.dirname(__file__), "..", "..", "src", "telemetry",
                               "pg_tracking.cc")).read()
    blocks = re.findall(r'R"sql\((.*?)\)sql"', source, re.S)
    assert len(blocks) >= count, blocks
    return blocks[:count]


def test_a_version_2_database_is_migrated_with_its_events(pg, etcd):
    """Migration 3 regroups the events (one row per message per batch, read through a view of
    the old shape): a database a version-2 tidegate wrote keeps every event, in order, and the
    machine goes on numbering after its mark."""
    t = int(time.time() * 1000) - 60000  # recent: the start's prune keeps them
    pg.sql("CREATE DATABASE migr OWNER tidegate")
    pg.sql("SET ROLE tidegate; CREATE TABLE schema_migrations(version integer PRIMARY KEY, "
           "applied_at timestamptz NOT NULL DEFAULT now()); " + "".join(shipped_migrations(2)) +
           "INSERT INTO schema_migrations(version) VALUES (1), (2);"
           "INSERT INTO tracking_messages(machine, mid, received_ms, first_seen_ms, sender, "
           "sender_key, subject, status) VALUES "
           f"('gwold', 7, {t}, {t}, 'a@old.test', 'a@old.test', 'old one', 'delivered');"
           f"INSERT INTO tracking_events VALUES ('gwold', 1, 7, {t}, 'first'), "
           f"('gwold', 2, 8, {t + 1}, 'another message'), "
           f"('gwold', 3, 7, {t + 2}, E'back\\\\slash \"q\" and, comma');"
           "INSERT INTO tracking_marks VALUES ('gwold', 3);", database="migr")
    sink = Sink().start()
    g = Gateway(accepted=("example.com",), extra_yaml=tracking_yaml(
        pg, "gwold", sink.port, etcd, "/migr/").replace("dbname=tidegate", "dbname=migr"))
    try:
        g.start()
        g.wait_log("Message tracking: PostgreSQL connected, machine gwold", timeout=20)
        assert pg.sql("SELECT max(version) FROM schema_migrations", database="migr") == [["3"]]
        assert pg.sql("SELECT seq, mid, time_ms, text FROM tracking_events ORDER BY seq",
                      database="migr") == [
            ["1", "7", str(t), "first"], ["2", "8", str(t + 1), "another message"],
            ["3", "7", str(t + 2), 'back\\slash "q" and, comma']]
        status, body = g.api("/api/v1/tracking/events?mid=7")
        assert status == 200, body
        lines = [e["line"] for e in body["events"]]
        assert len(lines) == 2 and lines[0].endswith("first") and \
            lines[1].endswith('back\\slash "q" and, comma'), lines
        # New events go on after the mark, into the new table.
        send(g, "after-migration")
        wait_for(lambda: pg.sql("SELECT count(*) FROM tracking_events WHERE seq > 3",
                                database="migr")[0][0] != "0", what="new events")
        assert pg.sql("SELECT count(*) FROM tracking_event_rows WHERE seq <= 3",
                      database="migr") == [["2"]]  # the old rows, one per message
    finally:
        g.cleanup()
        sink.stop()


def test_pg_down_buffers_then_exactly_once(pg, etcd):
    sink = Sink().start()
    g = Gateway(accepted=("example.com",), extra_yaml=tracking_yaml(pg, "gwdown", sink.port, etcd))
    try:
        g.start()
        send(g, "ref1")
        g.wait_log("Message finished", timeout=30)
        ref_mid = next(iter(mids_in_log(g, "ref1")))
        wait_for(lambda: events_by_mid(pg, "gwdown").get(ref_mid), what="reference written")
        time.sleep(1.0)  # its last events
        reference = shape(events_by_mid(pg, "gwdown")[ref_mid])

        pg.stop()
        took = [send(g, f"down{i}") for i in range(30)]
        assert max(took) < MAX_250_SECONDS * timing_slack(), took
        wait_for(lambda: g.mail_log().count("Message finished") >= 31, what="all delivered")
        st = wait_for(lambda: (t := tracking_status(g))["buffer_records"] > 0
                      and not t["connected"] and t, what="buffering shown")
        assert st["buffer_bytes"] > 0
        text = cli(g, "status").stdout
        assert "Tracking: postgresql, disconnected, buffer " in text, text

        pg.start()
        wait_for(lambda: (t := tracking_status(g))["connected"] and t["buffer_records"] == 0,
                 timeout=60, what="buffer emptied after PostgreSQL is back")
        histories = events_by_mid(pg, "gwdown")
        down = mids_in_log(g, "down")
        assert len(down) == 30
        for mid in down:
            assert shape(histories.get(mid, [])) == reference, (mid, histories.get(mid))
        assert tracking_status(g)["dropped"] == 0
        g.wait_log("Message tracking: PostgreSQL reconnected")
    finally:
        if pg.proc.poll() is not None:
            pg.start()
        g.cleanup()
        sink.stop()


def test_kill9_then_restart_still_exactly_once(pg, etcd):
    sink = Sink().start()
    g = Gateway(accepted=("example.com",), extra_yaml=tracking_yaml(pg, "gwkill", sink.port, etcd))
    try:
        g.start()
        send(g, "kref")
        g.wait_log("Message finished", timeout=30)
        ref_mid = next(iter(mids_in_log(g, "kref")))
        time.sleep(1.5)
        reference = shape(events_by_mid(pg, "gwkill")[ref_mid])

        errors, got_250 = [], set()

        def load():
            for i in range(40):
                try:
                    send(g, f"kill{i}")
                    got_250.add(f"kill{i}")
                except (OSError, smtplib.SMTPException, AssertionError) as e:
                    errors.append(e)
                    return

        t = threading.Thread(target=load)
        t.start()
        wait_for(lambda: g.mail_log().count("Message finished") >= 10, what="load under way")
        g.kill()
        t.join(timeout=60)
        g.start()
        wait_for(lambda: (s := tracking_status(g))["connected"] and s["buffer_records"] == 0,
                 timeout=60, what="buffer emptied after restart")
        # The mail log, like tracking, may lose its last moments to a kill -9 (neither is the
        # durability path): what must hold is that nothing is written twice, and that shipping
        # goes on exactly once after the restart's replay of the buffer.
        for i in range(5):
            send(g, f"after{i}")
        after = wait_for(lambda: len(m := mids_in_log(g, "after")) == 5 and m, what="after mids")
        wait_for(lambda: all(f"Message finished MID {m} done" in g.mail_log() for m in after),
                 what="after finished")
        time.sleep(1.0)
        wait_for(lambda: tracking_status(g)["buffer_records"] == 0, what="shipped")
        histories = events_by_mid(pg, "gwkill")
        rows = pg.sql("SELECT mid, time_ms, text, count(*) FROM tracking_events "
                      "WHERE machine = 'gwkill' GROUP BY 1, 2, 3 HAVING count(*) > 1")
        assert rows == [], rows  # no change written twice
        for mid in after:
            assert shape(histories.get(mid, [])) == reference, (mid, histories.get(mid))
        mark = int(pg.sql("SELECT last_seq FROM tracking_marks WHERE machine = 'gwkill'")[0][0])
        events = int(pg.sql("SELECT count(*) FROM tracking_events WHERE machine = 'gwkill'")[0][0])
        assert mark >= events > 0
        assert tracking_status(g)["dropped"] == 0
    finally:
        g.cleanup()
        sink.stop()


def test_buffer_replayed_after_commit_is_not_written_twice(pg, etcd):
    """A crash after PostgreSQL committed a batch but before the buffer let go of it: the
    restart replays the buffer, and the machine's mark keeps every change from a second write.
    Simulated by putting back a copy of the buffer taken before the shipment."""
    import shutil
    sink = Sink().start()
    g = Gateway(accepted=("example.com",), extra_yaml=tracking_yaml(pg, "gwreplay", sink.port, etcd))
    try:
        pg.stop()
        g.start()
        for i in range(5):
            send(g, f"replay{i}")
        wait_for(lambda: g.mail_log().count("Message finished") >= 5, what="delivered")
        time.sleep(1.0)  # the last events reach the buffer
        buffered = tracking_status(g)["buffer_records"]
        assert buffered > 0
        g.kill()
        buffer_dir = os.path.join(g.data_dir, "tracking-buffer")
        backup = os.path.join(g.workdir, "buffer-copy")
        shutil.copytree(buffer_dir, backup)

        pg.start()
        g.start()
        wait_for(lambda: (s := tracking_status(g))["connected"] and s["buffer_records"] == 0,
                 timeout=60, what="shipped")
        count = "SELECT count(*) FROM tracking_events WHERE machine = 'gwreplay'"
        written = int(pg.sql(count)[0][0])
        assert written > 0

        g.kill()
        shutil.rmtree(buffer_dir)
        shutil.copytree(backup, buffer_dir)
        g.start()
        wait_for(lambda: (s := tracking_status(g))["connected"] and s["buffer_records"] == 0,
                 timeout=60, what="replayed")
        assert int(pg.sql(count)[0][0]) == written
        assert tracking_status(g)["dropped"] == 0, tracking_status(g)
        assert pg.sql("SELECT last_seq FROM tracking_marks WHERE machine = 'gwreplay'") \
            == [[str(buffered)]]
    finally:
        if pg.proc.poll() is not None:
            pg.start()
        g.cleanup()
        sink.stop()
