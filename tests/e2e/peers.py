"""peers.py — real SMTP peers for end-to-end tests: an aiosmtpd sink with scripted replies and
optional STARTTLS, a blackhole (accepts TCP, never answers), and dnsmasq on loopback.

Everything binds 127.0.0.1 on free ports and stops itself; nothing waits unboundedly.
"""
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as AioSMTP

from harness import free_port


class Received:
    def __init__(self, mail_from, rcpt_tos, data, tls_version, peer):
        self.mail_from = mail_from
        self.rcpt_tos = rcpt_tos
        self.data = data
        self.tls_version = tls_version
        self.peer = peer


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.sink.lock:
            self.sink.mail_froms.append(address)  # every transaction, accepted or not
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.rcpt_reply(address) if self.sink.rcpt_reply else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            import asyncio
            await asyncio.sleep(self.sink.delay)
        reply = self.sink.data_reply(envelope) if self.sink.data_reply else None
        if reply:
            return reply
        tls = None
        if session.ssl is not None:
            obj = session.ssl.get("ssl_object")
            tls = obj.version() if obj else "unknown"
        with self.sink.lock:
            self.sink.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                               envelope.original_content, tls, session.peer))
        return "250 2.0.0 Ok: queued"


class _CountingSMTP(AioSMTP):
    def connection_made(self, transport):
        with self._sink.lock:
            self._sink.connections += 1
            self._sink.open_now += 1
            self._sink.max_concurrent = max(self._sink.max_concurrent, self._sink.open_now)
        super().connection_made(transport)

    def connection_lost(self, exc):
        with self._sink.lock:
            self._sink.open_now -= 1
        super().connection_lost(exc)


class Sink:
    """An aiosmtpd server. rcpt_reply(address) / data_reply(envelope) may return an SMTP reply
    string to refuse; `certs` enables STARTTLS (and `require_tls` makes it mandatory)."""

    def __init__(self, rcpt_reply=None, data_reply=None, certs=None, require_tls=False, delay=0,
                 port=None):
        self.port = port or free_port()
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.delay = delay
        self.messages = []
        self.mail_froms = []  # the MAIL FROM address of every transaction begun
        self.connections = 0
        self.open_now = 0
        self.max_concurrent = 0
        self.lock = threading.Lock()
        kwargs = {}
        if certs:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(certs["cert"], certs["key"])
            kwargs["tls_context"] = ctx
            kwargs["require_starttls"] = require_tls
        sink = self

        class Server(_CountingSMTP):
            _sink = sink

        class Ctl(Controller):
            def factory(self):
                return Server(self.handler, **self.SMTP_kwargs)

        self.controller = Ctl(_Handler(self), hostname="127.0.0.1", port=self.port,
                              ready_timeout=10, decode_data=False, **kwargs)

    def start(self):
        self.controller.start()
        # The controller connects to itself to check readiness: that is not a client.
        deadline = time.time() + 2
        while self.open_now and time.time() < deadline:
            time.sleep(0.01)
        with self.lock:
            self.connections = 0
            self.max_concurrent = 0
        return self

    def stop(self):
        self.controller.stop()

    def wait_messages(self, n, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"sink got {len(self.messages)} messages, expected {n}")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def established(port):
    """TCP connections established to 127.0.0.1:port right now, as the kernel sees them (ss)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    return len([line for line in out.splitlines() if line.strip()])


class ConnectionWatch:
    """Polls established() in the background; .max is the most seen at once."""

    def __init__(self, port, interval=0.02):
        self.port = port
        self.interval = interval
        self.max = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while self.running:
            self.max = max(self.max, established(self.port))
            time.sleep(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join(timeout=5)


class Blackhole:
    """Accepts TCP connections and never says anything."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(512)
        self.conns = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Dnsmasq:
    """dnsmasq on 127.0.0.1:<free port>, authoritative for the names given, NXDOMAIN for the rest
    of `.test`. records: list of dnsmasq options, e.g. "--mx-host=example.com,mx.test,10"."""

    def __init__(self, records):
        self.port = free_port()
        self.records = records
        self.proc = None

    def start(self):
        # --keep-in-foreground, not --no-daemon: the latter is dnsmasq's debug mode, which answers
        # TCP queries in its one process, so a client that opens a TCP connection and keeps it
        # idle (rspamd's resolver does, tests/e2e/engines.py) stops every UDP answer. Normal mode
        # forks a child per TCP connection; the children are in this process group (stop()).
        args = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--pid-file=", "--no-resolv",
                "--no-hosts", "--no-poll", f"--port={self.port}", "--listen-address=127.0.0.1",
                "--bind-interfaces", "--local=/test/", "--user=root", "--log-facility=-",
                *self.records]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq exited")
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(0.2)
                    # a minimal DNS query for "test." type A
                    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x00"
                             b"\x00\x01\x00\x01", ("127.0.0.1", self.port))
                    s.recvfrom(512)
                    return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("dnsmasq not answering")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc:
            try:  # TCP children forked by the dnsmasq started here (its process group)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
