"""soak_peers.py — the peers of the TDC soak test (soak.py), each run as its own process so that
their work never competes with the load generator's threads for one Python interpreter lock.

  soak_peers.py sink --port P --out FILE
      The next hop: an aiosmtpd server that accepts everything and appends one line
      `<time.monotonic()> <Message-ID>` per message to FILE (flushed at once). CLOCK_MONOTONIC is
      system-wide on Linux, so the parent compares these stamps with its own.

  soak_peers.py intake --port P --cert C --key K --bad-cert C2 --bad-key K2 --slow-delay S
      The intake on one fixed port whose behaviour the parent switches through stdin, one command
      a line, each answered `ok <command>` on stdout once in force:
        healthy    STARTTLS (required) with a certificate the gateway trusts; accepts every copy
        down       nothing listens on the port (connections are refused)
        blackhole  accepts TCP connections and never sends a byte (peers.Blackhole's behaviour)
        slow       like healthy, but every reply (the greeting included) comes after S seconds
        4xx        like healthy, but RCPT is answered 451 4.3.0
        5xx        like healthy, but RCPT is answered 550 5.1.1
        badcert    STARTTLS with a self-signed certificate for another name
        stats      prints `ok stats {"delivered": {...}, "connections": {...}}` (per mode)
        quit       closes everything and exits
      A mode change cuts every open connection (as an intake restart or a network fault
      would), so no connection keeps the old behaviour into the next phase.

  soak_peers.py sender --port P --schedule FILE --out FILE --body-bytes N
      One SMTP session of the open-loop load: FILE holds a JSON list of
      [scheduled monotonic time, index, block name]; each message is sent at its time (never
      earlier; late if the previous one took longer), over one kept connection (a new one after
      an error). Every message's sample is appended to --out as a JSON line when the schedule is
      done (or on SIGTERM): index, block, scheduled, started, replied (monotonic), dot_ms (last
      byte of the message → reply to the final dot, TCP_NODELAY), error. One process per session,
      so that no session ever waits for another's turn at an interpreter lock.
"""
import argparse
import asyncio
import json
import signal
import smtplib
import socket
import ssl
import sys
import time
import weakref

from aiosmtpd.smtp import SMTP


class _Handler:
    def __init__(self, owner, mode):
        self.owner = owner
        self.mode = mode

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "4xx":
            return "451 4.3.0 Intake busy, try later"
        if self.mode == "5xx":
            return "550 5.1.1 Unknown intake account"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.owner is not None:
            self.owner.on_message(self.mode, envelope)
        return "250 2.0.0 Ok: queued"


class _SlowSMTP(SMTP):
    """Every reply, the greeting included, after `delay` seconds."""
    delay = 0.0

    async def push(self, status):
        await asyncio.sleep(self.delay)
        await super().push(status)


class _Silent(asyncio.Protocol):
    """A blackholed connection: read and drop everything, never answer."""

    def __init__(self, owner):
        self.owner = owner
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.owner.silent.add(transport)

    def data_received(self, data):
        pass

    def connection_lost(self, exc):
        self.owner.silent.discard(self.transport)


class Intake:
    def __init__(self, args):
        self.port = args.port
        self.good = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.good.load_cert_chain(args.cert, args.key)
        self.bad = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.bad.load_cert_chain(args.bad_cert, args.bad_key)
        self.slow_delay = args.slow_delay
        self.mode = "down"
        self.server = None
        self.silent = set()
        self.live = weakref.WeakSet()  # every connection's protocol, to cut at a mode change
        self.delivered = {}
        self.connections = {}

    def on_message(self, mode, envelope):
        self.delivered[mode] = self.delivered.get(mode, 0) + 1

    def protocol(self):
        mode = self.mode
        self.connections[mode] = self.connections.get(mode, 0) + 1
        if mode == "blackhole":
            proto = _Silent(self)
        else:
            handler = _Handler(self, mode)
            ctx = self.bad if mode == "badcert" else self.good
            if mode == "slow":
                cls = type("Slow", (_SlowSMTP,), {"delay": self.slow_delay})
            else:
                cls = SMTP
            proto = cls(handler, hostname="intake.test", tls_context=ctx, require_starttls=True,
                        decode_data=False)
        self.live.add(proto)
        return proto

    async def set_mode(self, mode):
        # The intake changes state as a whole: connections opened in the old mode are cut (as a
        # restart or a network fault would), so no old connection keeps the old behaviour.
        if mode == self.mode:
            return
        self.mode = mode
        for proto in list(self.live):
            transport = getattr(proto, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.abort()
        if mode == "down":
            if self.server is not None:
                self.server.close()
                await self.server.wait_closed()
                self.server = None
        elif self.server is None:
            loop = asyncio.get_running_loop()
            self.server = await loop.create_server(self.protocol, "127.0.0.1", self.port,
                                                   reuse_address=True, backlog=512)

    async def run(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "quit":
                break
            if line == "stats":
                reply = "stats " + json.dumps({"delivered": self.delivered,
                                               "connections": self.connections})
            else:
                await self.set_mode(line)
                reply = line
            sys.stdout.write(f"ok {reply}\n")
            sys.stdout.flush()
        for t in list(self.silent):
            t.close()
        if self.server is not None:
            self.server.close()


class _Recorder:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        now = time.monotonic()
        mid = "-"
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n"):
            if line[:11].lower() == b"message-id:":
                mid = line[11:].strip().decode("ascii", "replace")
                break
        self.out.write(f"{now:.6f} {mid}\n")
        self.out.flush()
        return "250 2.0.0 Ok: queued"


async def run_sink(args):
    loop = asyncio.get_running_loop()
    with open(args.out, "a") as out:
        handler = _Recorder(out)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="nexthop.test", decode_data=False), "127.0.0.1",
            args.port, reuse_address=True, backlog=512)
        sys.stdout.write("ok listening\n")
        sys.stdout.flush()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.readline()  # EOF or any line: stop
        server.close()


def run_sender(args):
    with open(args.schedule) as f:
        schedule = json.load(f)
    filler = ("x" * 70 + "\r\n") * max(1, args.body_bytes // 72)
    samples = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    s = None
    for scheduled, index, block in schedule:
        while not stop and time.monotonic() < scheduled:
            time.sleep(min(0.05, max(0.0, scheduled - time.monotonic())))
        if stop:
            break
        sample = {"index": index, "block": block, "scheduled": scheduled,
                  "started": time.monotonic(), "replied": 0.0, "dot_ms": 0.0, "error": ""}
        try:
            if s is None:
                s = smtplib.SMTP("127.0.0.1", args.port, local_hostname="soak.test", timeout=30)
                s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.ehlo()
            for step, want in ((lambda: s.mail("alice@sender.test"), 250),
                               (lambda: s.rcpt("joe@example.com"), 250),
                               (lambda: s.docmd("DATA"), 354)):
                code, text = step()
                if code != want:
                    raise smtplib.SMTPResponseException(code, text)
            s.send((f"From: <alice@sender.test>\r\nTo: <joe@example.com>\r\n"
                    f"Subject: soak {block} {index}\r\n"
                    f"Message-ID: <soak.{block}.{index}@sender.test>\r\n\r\n{filler}.\r\n"
                    ).encode())
            t0 = time.monotonic()
            code, text = s.getreply()
            sample["replied"] = time.monotonic()
            sample["dot_ms"] = (sample["replied"] - t0) * 1000.0
            if code != 250:
                raise smtplib.SMTPResponseException(code, text)
        except (smtplib.SMTPException, OSError) as e:
            sample["error"] = repr(e)
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
            s = None
        samples.append(sample)
    if s is not None:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    with open(args.out, "a") as f:
        for sample in samples:
            f.write(json.dumps(sample) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["sink", "intake", "sender"])
    p.add_argument("--schedule")
    p.add_argument("--body-bytes", type=int, default=2000)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--bad-cert")
    p.add_argument("--bad-key")
    p.add_argument("--slow-delay", type=float, default=0.5)
    args = p.parse_args()
    if args.role == "sink":
        asyncio.run(run_sink(args))
    elif args.role == "sender":
        run_sender(args)
    else:
        asyncio.run(Intake(args).run())


if __name__ == "__main__":
    main()
