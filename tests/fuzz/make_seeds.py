#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target to tests/fuzz/corpus/<target>/ (make fuzz, fuzz-ci).

Seeds are small, hand-picked inputs in each target's input format (see the header comment of the
target in src/<module>/fuzz/): valid cases that reach deep into the parser, plus the hostile
shapes the hardening issue names (smuggling sequences, NUL, CR/LF injection, overlong lines).
Rerunning rewrites the seeds it knows and leaves any other file alone."""
import os
import random

ROOT = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(ROOT, "corpus")


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for i, seed in enumerate(seeds):
        if isinstance(seed, str):
            seed = seed.encode("utf-8", "surrogateescape")
        with open(os.path.join(d, f"seed-{i:02d}"), "wb") as f:
            f.write(seed)


def flags(b, text):
    return bytes([b]) + (text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)


paths = ["<a@example.com>", "<>", "<@relay.example,@b.example:user@example.com>",
         '<"quoted local"@example.com>', '<"a\\"b"@example.com>', "<user@[192.0.2.1]>",
         "<user@[IPv6:2001:db8::1]>", "<first.last+tag@sub.example.co.uk> SIZE=100",
         "<us\u00e9r@ex\u00e4mple.com>", "<a@b\r\nRCPT TO:<c@d>>", "<a\x00@b.com>",
         "<user@[1.2.3.4\x00x]>", "<a..b@c.com>", "<" + "a" * 64 + "@" + "b" * 63 + ".com>",
         "<u%ext@ours.example>", "<ext!u@ours.example>"]
write("address_fuzz", [flags(i % 4, p) for i, p in enumerate(paths)])

commands = ["EHLO client.example", "HELO x", "MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME",
            "MAIL FROM:<> SMTPUTF8", "mail from: <b@example.org>", "RCPT TO:<Postmaster>",
            "RCPT TO:<user@example.net>", "RCPT TO:<\"a@b\"@example.net>", "DATA", "RSET",
            "NOOP hello", "QUIT", "STARTTLS", "VRFY user", "AUTH PLAIN AGFAAGI=",
            "BDAT 100 LAST", "MAIL FROM:<a@b.c> SIZE=99999999999999999999999",
            "MAIL FROM:<\u00fc@b.c> SMTPUTF8", "RCPT TO:<a@b.c> NOTIFY=NEVER",
            "MAIL FROM:<a@b.c>\rRCPT TO:<x@y>", "  \tNOOP\t ", "MAIL FROM:<a@b.c> BODY=BINARYMIME"]
write("smtp_command_fuzz", [flags(i % 4, c) for i, c in enumerate(commands)])

session = [
    (0x10, "EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
           "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n"),
    (0x00, "HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\n.\nMAIL FROM:<evil@x>\r\n"
           "\r\n.\r\nQUIT\r\n"),
    (0x04, "EHLO c\r\nSTARTTLS\r\nEHLO c\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n"),
    (0x0c, "EHLO c\r\nMAIL FROM:<a@b.c>\r\n"),
    (0x03, "EHLO c\r\nMAIL FROM:<a@b.c> SIZE=10\r\nRCPT TO:<1@x.y>\r\nRCPT TO:<2@x.y>\r\n"
           "RCPT TO:<3@x.y>\r\nDATA\r\n" + "A" * 100 + "\r\n.\r\nRSET\r\nQUIT\r\n"),
    (0x10, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nnul\x00byte\r\n.\r\n"),
    (0x00, "DATA\r\nRCPT TO:<a@b>\r\nEHLO " + "x" * 600 + "\r\nQUIT\r\n"),
    (0x10, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nbare\rcr\r\n.\r\n"
           "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nok\r\n.\r\nQUIT\r\n"),
]
write("smtp_server_session_fuzz", [flags(f, s) for f, s in session])

data = ["Subject: x\r\n\r\nbody\r\n.\r\n", "..leading dot\r\n.\r\nMAIL FROM:<a@b>\r\n",
        "a\n.\nb\r\n.\r\n", "a\r\n.\rb\r\n.\r\n", "x\r.\r\n.\r\n", ".\r\n", "", "no end",
        "line\r\n.", "nul\x00\r\n.\r\n", "\r\r\n..\r\n.\r\n", "\n.\r\n", ".\n", "....\r\n.\r\n"]
write("smtp_data_reader_fuzz",
      [bytes([(0x80 if i % 2 else 10 + i), 7 * i]) + d.encode() for i, d in enumerate(data)])

replies = [(200, "220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
                 "250-STARTTLS\r\n250 8BITMIME\r\n220 go\r\n250-mx\r\n250 PIPELINING\r\n"
                 "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n354 go\r\n250 2.0.0 queued\r\n"
                 "221 bye\r\n"),
           (0, "220 mx\r\n250 mx\r\n250 ok\r\n452 4.5.3 too many\r\n250 ok\r\n354 go\r\n"
               "250 ok\r\n"),
           (3, "220-first\n220 second\n250 ok\n"),
           (255, "220 " + "x" * 5000 + "\r\n"),
           (15, "220-a\r\n" * 2000 + "220 b\r\n"),
           (1, "220 ok\r\n250-a\r\n251 changed code\r\n"),
           (7, "220 nul\x00\r\n"),
           (9, "554 5.7.1 go away\r\n"),
           (31, "220 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n")]
write("smtp_client_reply_fuzz", [flags(s, r) for s, r in replies])

messages = [
    "From: a@b.c\r\nTo: d@e.f\r\nSubject: hello\r\n folded\r\n\r\nbody\r\n",
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npre\r\n--XX\r\nContent-Type: text/plain"
    "\r\n\r\none\r\n--XX\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--XX--\r\n",
    "Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    "a=3Db=\r\nsoft\r\n",
    "no colon line\r\n: empty name\r\nX:\r\n\r\n",
    "Subject: x\n\nLF only\n",
    "Received: a\r\n" * 60 + "\r\n",
    "Content-Type: text/plain; charset=\"utf-8\"; format=flowed\r\n\r\n\x00\xff\r\n",
]
write("headers_fuzz", messages)

journal = [
    "From: Threat Defense Connector <postmaster@gw.example>\r\nTo: undisclosed-recipients:;\r\n"
    "Subject: Journal Report: hi\r\nMIME-Version: 1.0\r\nX-MS-Journal-Report:\r\n"
    "Content-Type: multipart/mixed;\r\n\tboundary=\"B1\"\r\n\r\nThis is a multi-part message.\r\n"
    "\r\n--B1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n"
    "\r\nSender: a@b.c\r\nSubject: hi\r\nMessage-Id: <1@b.c>\r\nTo: d@e.f\r\nTo: g@h.i\r\n"
    "\r\n--B1\r\nContent-Type: message/rfc822\r\n\r\nSubject: hi\r\n\r\nbody\r\n\r\n--B1--\r\n",
    "X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\nSender: <>\r\nTo: x=\r\n@y.z\r\n--Z\r\n"
    "\r\norig\r\n--Z--\r\n",
    "Subject: not a journal\r\n\r\nbody\r\n",
]
rng = random.Random(9)
write("journal_report_fuzz", journal + [bytes(rng.randrange(256) for _ in range(n))
                                        for n in (16, 64, 300)])

# FuzzedDataProvider input: any bytes work; lengths vary the number of segments and items.
write("spool_record_fuzz", [bytes(rng.randrange(256) for _ in range(n))
                            for n in (8, 40, 120, 300, 700, 1500, 3000)])

with open(os.path.join(ROOT, "..", "..", "examples", "gateway.yaml"), "rb") as f:
    gateway = f.read()
with open(os.path.join(ROOT, "..", "..", "examples", "intake.yaml"), "rb") as f:
    intake = f.read()
configs = [gateway, intake,
           "hostname: gw.example\nlisteners: [{bind: \"127.0.0.1:2525\"}]\n",
           "a: &x {b: [1, 2, {c: d}]}\ne: *x\nf: |\n  block\n  text\ng: >-\n  folded\n",
           "policies:\n  - name: DEFAULT\n    tdc: {enabled: true}\n  - name: 'q''uote'\n",
           "\ufeffkey: \"esc\\x41\\u00e9\"\r\nother: 'single'\r\n",
           "[[[[[[[[[[]]]]]]]]]]", "k: v # comment\n---\nsecond: doc\n"]
write("config_fuzz", configs)

# http_framing_fuzz: two bytes of limits (head 64 + 32*b0, body 64*b1), then client bytes.
h = "POST /api/v1/echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
requests = [
    "GET /ui/status?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=b\r\n\r\n",
    h + "Content-Length: 5\r\n\r\nhello",
    h + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    h + "Transfer-Encoding: gzip\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n",
    h + "Transfer-Encoding: chunked, identity\r\nContent-Length: 3\r\n\r\nabc",
    h + "Transfer-Encoding : chunked\r\n\r\n",
    h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
    h + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
    h + "X-A: b\r\n Transfer-Encoding: chunked\r\n\r\n",
    h + "X-A: b\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "\x16\x03\x01\x02\x00 hello\r\n\r\n",
    "GET / HTTP/1.1\r\nX-Big: " + "a" * 600 + "\r\n\r\n",
]
write("http_framing_fuzz", [flags(i * 37 % 256, bytes([(i * 11) % 256]) +
                                  r.encode("utf-8", "surrogateescape"))
                            for i, r in enumerate(requests)])

# admin_text_codec_fuzz: one string fed to every decoder (form, percent, Base64, HTML).
write("admin_text_codec_fuzz", [
    "user=admin&password=p%40ss+word&csrf_token=0123abcd&next=%2Fui%2Fstatus",
    "a=1&&b=&=c&d&a=2", "bad=%zz&x=1", "trunc=%4", "nul=%00", "plus=a+b%2Bc",
    "YWRtaW46Y29ycmVjdC1ob3JzZQ==", "YQ==", "YWI=", "Y===", "====", "<script>'\"&amp;</script>",
    "caf\u00e9%C3%A9", "\x00\xff\r\n",
])

# edits_fuzz (FuzzedDataProvider): strings are taken from the front (prepend fields, the tag),
# integers from the back (how many, which indexes); the rest is the message.
edit_messages = [
    "Authentication-Results: gw.example; spf=pass\r\nSubject: hello\r\n folded\r\nFrom: a@b.c\r\n"
    "\r\nbody\r\n",
    "Subject: =?UTF-8?B?w6nDqQ==?=\r\n =?UTF-8?Q?=C3=A9?=\r\n\r\nx\r\n",
    " orphan\r\ngarbage\r\n\tcont\r\nA: b\r\n\r\n",
    "Subject: [SPAM] already\r\n\r\n", "Subject: headers only", "\r\nno headers\r\n", "",
    "Subject: " + "x" * 1000 + "\r\n\r\nb",
]
edit_fields = "X-Tidegate-Spam: suspect\\\nX-A: a\r\n\tb\\\n[SPAM]\\\n"
write("edits_fuzz", [edit_fields + m + "\x03\x01\x02\x00\x01" for m in edit_messages])

# auth_results_fuzz: byte 0 = length of the authserv-id (mod 64), then the id, then the message.
ar_messages = [
    "Authentication-Results: gw.example; spf=pass\r\nauthentication-results: (c) GW.EXAMPLE. 1;"
    "\r\n dkim=pass\r\nAuthentication-Results: \"gw.example\"; x\r\nFrom: A <a@Sender.Example>\r\n"
    "\r\nbody\r\n",
    "Authentication-Results: (unclosed gw.example\r\nFrom: a@b.c, d@e.f\r\n\r\n",
    "From: \"x <y@evil>\" <a@good.example> (c <z@evil>)\r\n\r\n",
]
write("auth_results_fuzz", [bytes([10]) + b"gw.example" + m.encode() for m in ar_messages])

# ldap_filter_fuzz: the local part (raw, or quoted when it starts with '"'), 0x01, the domain.
ldap_addresses = ["alice\x01example.com", '"a)(mail=*"\x01example.com', "*\x01*",
                  '"x\\\\2a"\x01example.com', "a\x00b\\\x01ex(ample)", '"unclosed\x01\u00e9.example']
write("ldap_filter_fuzz", ldap_addresses)
