"""rawpeer.py — a tiny SMTP next hop on raw sockets that can misbehave on purpose.

Unlike aiosmtpd (peers.Sink), it writes exactly the bytes we script, in one write, so that it can
inject replies: extra replies after the greeting, after STARTTLS's 220 (before the handshake),
after 354, after the final 250, or answers to commands the client has not sent yet. Each accepted
connection takes the next mode from `modes` (then "normal"). It records, per connection, the raw
command lines it read and every message it answered 250 to. Bounded: every socket has a timeout.
"""
import socket
import ssl
import threading

from harness import free_port

MODES = ("normal", "greeting_extra", "starttls_inject", "early_replies", "after_354_extra",
         "after_250_extra", "ehlo_extra")


class Delivered:
    def __init__(self, conn, mail_from, rcpts, data, tls):
        self.conn = conn          # index of the connection that carried it
        self.mail_from = mail_from  # the raw MAIL command line
        self.rcpts = rcpts        # the raw RCPT command lines
        self.data = data          # the body as received (dot-stuffed, without the final dot)
        self.tls = tls


class _Io:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill_until(self, done):
        """Reads until done(buffer) holds; False when the peer closed or the socket failed."""
        while not done(self.buf):
            try:
                chunk = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                return False
            if not chunk:
                return False
            self.buf += chunk
        return True

    def readline(self):
        if not self._fill_until(lambda b: b"\n" in b):
            return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def read_data(self):
        if not self._fill_until(lambda b: b"\r\n.\r\n" in b"\r\n" + b):
            return None
        if self.buf.startswith(b".\r\n"):
            self.buf = self.buf[3:]
            return b""
        data, self.buf = self.buf.split(b"\r\n.\r\n", 1)
        return data + b"\r\n"


class RawNextHop:
    def __init__(self, modes=(), certs=None):
        for m in modes:
            assert m in MODES, m
        self.port = free_port()
        self.modes = list(modes)
        self.certs = certs
        self.lock = threading.Lock()
        self.transcripts = []   # per connection: list of raw lines read
        self.delivered = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.running = True
        self.threads = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()
        for t in self.threads:
            t.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                idx = len(self.transcripts)
                self.transcripts.append([])
            mode = self.modes[idx] if idx < len(self.modes) else "normal"
            t = threading.Thread(target=self._serve, args=(conn, idx, mode), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn, idx, mode):
        conn.settimeout(20)
        io = _Io(conn)
        tls = False
        try:
            greeting = b"220 rawpeer.test ESMTP\r\n"
            if mode == "greeting_extra":
                greeting += b"250 2.1.0 injected after greeting\r\n"
            io.send(greeting)
            mail_from, rcpts = None, []
            while True:
                line = io.readline()
                if line is None:
                    return
                with self.lock:
                    self.transcripts[idx].append(line)
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb == b"EHLO":
                    caps = [b"rawpeer.test"]
                    if mode != "early_replies":
                        caps.append(b"PIPELINING")
                    caps += [b"8BITMIME", b"SMTPUTF8"]
                    if self.certs and not tls:
                        caps.append(b"STARTTLS")
                    reply = b"".join(b"250-" + c + b"\r\n" for c in caps[:-1])
                    reply += b"250 " + caps[-1] + b"\r\n"
                    if mode == "ehlo_extra":
                        reply += b"250 2.1.0 injected after EHLO\r\n"
                    io.send(reply)
                elif verb == b"HELO":
                    io.send(b"250 rawpeer.test\r\n")
                elif verb == b"STARTTLS" and self.certs and not tls:
                    reply = b"220 2.0.0 Ready to start TLS\r\n"
                    if mode == "starttls_inject":
                        reply += b"250 2.1.0 injected before TLS\r\n"
                    io.send(reply)
                    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                    ctx.load_cert_chain(self.certs["cert"], self.certs["key"])
                    try:
                        conn = ctx.wrap_socket(conn, server_side=True)
                    except (OSError, ssl.SSLError):
                        return
                    io = _Io(conn)
                    tls = True
                    mail_from, rcpts = None, []
                elif verb == b"MAIL":
                    mail_from, rcpts = line.rstrip(b"\r\n"), []
                    if mode == "early_replies":
                        # Answers to RCPT and DATA before the client sent them (no PIPELINING).
                        io.send(b"250 2.1.0 Ok\r\n250 2.1.5 injected early\r\n"
                                b"354 injected early\r\n")
                    else:
                        io.send(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line.rstrip(b"\r\n"))
                    io.send(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    reply = b"354 End data with <CR><LF>.<CR><LF>\r\n"
                    if mode == "after_354_extra":
                        reply += b"250 2.0.0 injected fake acceptance\r\n"
                    io.send(reply)
                    data = io.read_data()
                    if data is None:
                        return
                    with self.lock:
                        self.delivered.append(Delivered(idx, mail_from, rcpts, data, tls))
                    reply = b"250 2.0.0 Ok: queued by rawpeer\r\n"
                    if mode == "after_250_extra":
                        reply += b"550 5.7.1 injected after acceptance\r\n"
                    io.send(reply)
                    mail_from, rcpts = None, []
                elif verb == b"RSET":
                    mail_from, rcpts = None, []
                    io.send(b"250 2.0.0 Ok\r\n")
                elif verb == b"NOOP":
                    io.send(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    io.send(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    io.send(b"500 5.5.2 Error: command not recognized\r\n")
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass
