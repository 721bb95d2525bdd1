"""Message tracking search as operators expect it (issue 19, CONTRACT §12 "Tracking search"),
end to end with real SMTP clients (smtplib, from distinct loopback source addresses), a gateway
that journals to a TLS intake (the Threat Defense Connector), and both tracking backends: SQLite
and a private PostgreSQL (tests/e2e/postgres.py). The same cases run against each:

- sender / recipient / subject with is, begins and contains (case-insensitive; % and _ typed by
  the operator match themselves), sender IP, policy, since/until in RFC 3339 and local forms,
  through `track` and `GET /api/v1/tracking`; an unknown API parameter is a 400 that names it;
- journal copies hidden by default, shown with --include-journal, found by their own --mid;
- paging past 200 results (205 messages over one SMTP connection): limit/offset;
- the Web UI's CSV export (quoting, formulas neutralised) and the details page's delivery
  connection (DCID, address, port, TLS protocol and cipher)."""
import csv
import io
import json
import re
import smtplib
import tempfile
import time
import urllib.parse

import pytest

from harness import timing_slack
from peers import Sink
from tdc_fixtures import intake_certs, tdc_gateway
from test_admin_hostile import Admin
from test_operator import cli

PASSWORD = "test-password"
BULK = 205


def wait_for(pred, timeout=60.0, what="condition"):
    deadline = time.time() + timeout * timing_slack()
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not met in time")


def send(g, source_ip, sender, rcpts, subject, tag):
    msg = (f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <{tag}@sender.test>\r\n\r\n"
           "body\r\n")
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30, source_address=(source_ip, 0)) as s:
        s.sendmail(sender, rcpts, msg.encode())


def api(g, query):
    """(status, parsed body) of GET /api/v1/tracking?query (a dict or a string)."""
    a = Admin(g)
    q = query if isinstance(query, str) else urllib.parse.urlencode(query)
    status, _, data, _ = a.request("GET", "/api/v1/tracking?" + q, basic=f"admin:{PASSWORD}")
    return status, json.loads(data)


def subjects(g, **query):
    status, rows = api(g, query)
    assert status == 200, rows
    return sorted(r["subject"] for r in rows)


def track_json(g, *args):
    return json.loads(cli(g, "track", *args, "--json").stdout)


def postgres_yaml(pg):
    return ("tracking:\n"
            "  backend: postgresql\n"
            f"  postgresql: {{conninfo: \"{pg.conninfo}\", password_file: {pg.password_file}}}\n"
            "  buffer_max: 64M\n")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request):
    workdir = tempfile.mkdtemp(prefix="tidegate-tsearch-")
    pg = None
    extra = ""
    if request.param == "postgresql":
        from postgres import Postgres
        pg = Postgres(tempfile.mkdtemp(prefix="tidegate-tsearch-pg-"))
        pg.__enter__()
        extra = postgres_yaml(pg)
    certs = intake_certs(workdir)
    sinks = [Sink().start(), Sink(certs=certs).start(), Sink().start()]
    next_hop, intake, dsn = sinks
    g = tdc_gateway(workdir, intake.port, next_hop.port, dsn.port, certs["ca"], extra=extra)
    g.start()
    try:
        # Distinct senders, subjects and source addresses; journal copies (DEFAULT journals).
        send(g, "127.0.0.2", "Alice.Smith@Sender.test", ["bob@example.com"],
             "Quarterly report", "q1")
        send(g, "127.0.0.3", "alan@sender.test", ["carol@example.com"],
             "100% off_today", "pct")
        send(g, "127.0.0.3", "zed@other.test", ["dave@sales.example.com"],
             '=HYPERLINK("http://x"), "quoted"', "formula")
        send(g, "127.0.0.4", "malice@sender.test", ["bob@example.com"], "Re: quarterly", "re")
        # Paging: many small messages over one connection, from their own address.
        with smtplib.SMTP("127.0.0.1", g.port, timeout=60, source_address=("127.0.0.5", 0)) as s:
            for i in range(BULK):
                s.sendmail("bulk@bulk.test", ["erin@example.com"],
                           f"Subject: bulk {i:03}\r\n\r\nx\r\n".encode())
        # Everything tracked and delivered (journal copies too) before any search.
        wait_for(lambda: len(next_hop.messages) >= BULK + 4 and len(intake.messages) >= BULK + 3,
                 what="delivery")
        wait_for(lambda: len(api(g, {"sender": "bulk@bulk.test", "limit": 1000})[1]) == BULK
                 and all(r["status"] == "delivered" for r in
                         api(g, {"sender_ip": "127.0.0.3", "include_journal": "1"})[1]),
                 what="tracking rows")
        yield g, request.param
    finally:
        g.cleanup()
        for s in sinks:
            s.stop()
        if pg:
            pg.close()


def test_match_modes_sender_recipient_subject(world):
    g, _ = world
    # Sender: is (without case), begins, contains.
    assert subjects(g, sender="alice.smith@SENDER.test") == ["Quarterly report"]
    assert subjects(g, sender="ALICE", match="begins") == ["Quarterly report"]
    assert subjects(g, sender="al", match="begins") == ["100% off_today", "Quarterly report"]
    assert subjects(g, sender="alice", match="contains") == ["Quarterly report", "Re: quarterly"]
    assert subjects(g, sender="alice") == []
    # Recipient.
    assert subjects(g, recipient="BOB@example.com") == ["Quarterly report", "Re: quarterly"]
    assert subjects(g, recipient="@sales.", match="contains") == [
        '=HYPERLINK("http://x"), "quoted"']
    assert subjects(g, recipient="car", match="begins") == ["100% off_today"]
    # Subject: without case; the LIKE wildcards typed by the operator match only themselves.
    assert subjects(g, subject="quarterly report") == ["Quarterly report"]
    assert subjects(g, subject="QUARTERLY", match="contains") == ["Quarterly report",
                                                                  "Re: quarterly"]
    assert subjects(g, subject="re", match="begins") == ["Re: quarterly"]
    assert subjects(g, subject="100%", match="begins") == ["100% off_today"]
    assert subjects(g, subject="% off_", match="contains") == ["100% off_today"]
    assert subjects(g, subject="1%", match="begins") == []
    assert subjects(g, subject="_", match="contains") == ["100% off_today"]
    assert subjects(g, subject="' OR 1=1 --", match="contains") == []


def test_sender_ip_policy_and_time(world):
    g, _ = world
    assert subjects(g, sender_ip="127.0.0.3") == ['100% off_today',
                                                  '=HYPERLINK("http://x"), "quoted"']
    assert subjects(g, sender_ip="127.0.0.4") == ["Re: quarterly"]
    assert subjects(g, policy="Sales") == ['=HYPERLINK("http://x"), "quoted"']
    status, rows = api(g, {"sender_ip": "127.0.0.2"})
    assert rows[0]["sender_ip"] == "127.0.0.2"
    received = rows[0]["received"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(received))
    local_day = time.strftime("%Y-%m-%d", time.localtime(received))
    assert subjects(g, sender_ip="127.0.0.2", since=stamp, until=stamp) == ["Quarterly report"]
    assert subjects(g, sender_ip="127.0.0.2", until=local_day) == ["Quarterly report"]
    assert subjects(g, sender_ip="127.0.0.2", since=local_day) == ["Quarterly report"]
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(received + 2))
    assert subjects(g, sender_ip="127.0.0.2", since=later) == []
    # The CLI takes the same searches.
    out = track_json(g, "--sender", "ALI", "--match", "begins", "--since", local_day)
    assert [m["subject"] for m in out] == ["Quarterly report"]
    assert out[0]["events"], out
    out = track_json(g, "--sender-ip", "127.0.0.4", "--policy", "DEFAULT")
    assert [m["subject"] for m in out] == ["Re: quarterly"]
    out = track_json(g, "--subject", "100% OFF", "--match", "contains")
    assert [m["subject"] for m in out] == ["100% off_today"]
    r = cli(g, "track", "--subject", "x", "--match", "fuzzy", check=False)
    assert r.returncode != 0 and "match must be is, begins or contains" in r.stderr, r.stderr


def test_unknown_and_bad_parameters_are_400(world):
    g, _ = world
    status, body = api(g, "sendr=alice%40sender.test")
    assert status == 400 and "unknown parameter 'sendr'" in body["error"], body
    for q in ("match=like&sender=a", "since=yesterday", "limit=0", "limit=1001",
              "include_journal=maybe", "offset=-1"):
        status, body = api(g, q)
        assert status == 400, (q, body)


def test_journal_copies_hidden_by_default(world):
    g, _ = world
    rows = api(g, {"sender_ip": "127.0.0.2"})[1]
    assert [r["journal"] for r in rows] == [False]
    both = api(g, {"sender_ip": "127.0.0.2", "include_journal": "true"})[1]
    assert sorted(r["journal"] for r in both) == [False, True]
    copy = next(r for r in both if r["journal"])
    assert copy["parent_mid"] == rows[0]["mid"]
    # The copy by its own MID, without the toggle.
    assert [m["mid"] for m in track_json(g, "--mid", str(copy["mid"]))] == [copy["mid"]]
    out = track_json(g, "--message-id", "q1@sender.test")
    assert [m["journal"] for m in out] == [False]
    out = track_json(g, "--message-id", "q1@sender.test", "--include-journal")
    assert sorted(m["journal"] for m in out) == [False, True]


def test_paging_beyond_200(world):
    g, _ = world
    first = api(g, {"sender": "bulk@bulk.test", "limit": 200})[1]
    second = api(g, {"sender": "bulk@bulk.test", "limit": 200, "offset": 200})[1]
    assert len(first) == 200 and len(second) == BULK - 200
    seen = [r["subject"] for r in first + second]
    assert sorted(seen) == [f"bulk {i:03}" for i in range(BULK)]  # each once, none lost
    assert api(g, {"sender": "bulk@bulk.test", "offset": BULK})[1] == []
    # Newest first across the pages.
    received = [r["received"] for r in first + second]
    assert received == sorted(received, reverse=True)
    out = track_json(g, "--sender", "BULK@", "--match", "begins", "--limit", "3", "--offset",
                     "203")
    assert len(out) == 2, out


def test_web_ui_csv_export_and_delivery_connection(world):
    g, _ = world
    admin = Admin(g)
    session, _, _ = admin.login()
    status, headers, data, _ = admin.request(
        "GET", "/ui/tracking.csv?sender_ip=127.0.0.3&include_journal=1", cookie=session)
    assert status == 200 and headers["content-type"].startswith("text/csv"), (status, headers)
    assert "attachment" in headers.get("content-disposition", "")
    text = data.decode()
    assert text.count("\r\n") == 5, text  # a header and 4 rows (2 messages, 2 copies)
    rows = list(csv.DictReader(io.StringIO(text)))
    subjects_ = sorted(r["subject"] for r in rows)
    assert subjects_ == ["'=HYPERLINK(\"http://x\"), \"quoted\""] * 2 + ["100% off_today"] * 2
    assert {r["sender_ip"] for r in rows} == {"127.0.0.3"}
    # Paging links on the search page past 200.
    status, _, page, _ = admin.request("GET", "/ui/tracking?sender=bulk%40bulk.test",
                                       cookie=session)
    assert status == 200
    assert page.count(b"<tr data-mid=") == 200
    assert b'id="next"' in page and b'id="prev"' not in page
    nxt = re.search(rb'id="next" href="([^"]+)"', page).group(1).decode().replace("&amp;", "&")
    status, _, page2, _ = admin.request("GET", nxt, cookie=session)
    assert page2.count(b"<tr data-mid=") == BULK - 200 and b'id="prev"' in page2
    assert b'id="next"' not in page2
    # The details page: the delivery connection of the journal copy (TLS to the intake) and of
    # the message itself.
    both = api(g, {"sender_ip": "127.0.0.2", "include_journal": "1"})[1]
    copy = next(r for r in both if r["journal"])
    original = next(r for r in both if not r["journal"])
    status, _, page, _ = admin.request("GET", f"/ui/tracking/{copy['mid']}", cookie=session)
    assert status == 200
    table = re.search(rb'<table id="connections">(.*?)</table>', page, re.S)
    assert table, page[-3000:]
    cells = re.findall(rb"<td[^>]*>([^<]*)</td>", table.group(1))
    assert cells[1] == b"127.0.0.1", cells
    assert cells[3].startswith(b"TLSv1."), cells
    assert cells[4], cells
    status, _, page, _ = admin.request("GET", f"/ui/tracking/{original['mid']}", cookie=session)
    assert b'<table id="connections">' in page
    assert b'id="sender-ip">127.0.0.2<' in page
    lines = "\n".join(e["text"] for e in track_json(g, "--mid", str(copy["mid"]))[0]["events"])
    assert re.search(r"SMTP delivery connection \(DCID \d+\) opened from interface \S+ to IP "
                     r"address 127\.0\.0\.1 on port \d+\.", lines), lines
    assert re.search(r"Delivery connection \(DCID \d+\) successfully accepted TLS protocol "
                     r"TLSv1\.\d cipher \S+\.", lines), lines
