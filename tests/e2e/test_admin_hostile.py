"""The admin surface against hostile requests, on the real gateway (issue 9, "Admin surface").

Unauthenticated, wrong-password, cross-site (CSRF token missing or wrong, foreign Origin) and
bad-Host requests are refused; MID parameters that are not numbers get 400 (API) / 404 (UI page)
and change nothing on disk; no secret — admin password, a guessed password, session id, CSRF and
login tokens, TLS private key — appears in the mail log, stderr, the process arguments or any
reply body.
"""
import base64
import hashlib
import http.client
import os
import re
import urllib.parse

from harness import Gateway, assert_smuggling_refused, http_raw

PASSWORD = "test-password"
GUESS = "Guessed-Secret-42"


class Admin:
    def __init__(self, g):
        self.g = g
        self.bodies = []  # every reply body, to search for secrets at the end

    def request(self, method, path, headers=None, body=None, host=None, basic=None, cookie=None):
        c = http.client.HTTPConnection("127.0.0.1", self.g.admin_port, timeout=30)
        h = {"Host": host if host is not None else f"127.0.0.1:{self.g.admin_port}"}
        if basic:
            h["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        if cookie:
            h["Cookie"] = cookie
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        self.bodies.append((r.status, data))
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data, \
            r.headers.get_all("Set-Cookie") or []

    def login(self):
        status, _, page, cookies = self.request("GET", "/login")
        assert status == 200
        login_token = re.search(rb'name="csrf_token" value="([0-9a-f]+)"', page).group(1).decode()
        login_cookie = cookies[0].split(";")[0]
        status, hdrs, _, cookies = self.request(
            "POST", "/login", cookie=login_cookie,
            body={"user": "admin", "password": PASSWORD, "csrf_token": login_token, "next": "/"})
        assert status == 303, status
        session = [c.split(";")[0] for c in cookies if c.startswith("tidegate_session=")][0]
        status, _, page, _ = self.request("GET", "/ui/tdc", cookie=session)
        assert status == 200
        token = re.search(rb'name="csrf_token" value="([0-9a-f]+)"', page).group(1).decode()
        return session, token, login_token


def snapshot(root):
    out = {}
    for d, _, files in os.walk(root):
        if "mail_logs" in d:
            continue  # refused requests are logged: that is expected
        for name in files:
            p = os.path.join(d, name)
            st = os.stat(p)
            with open(p, "rb") as f:
                out[p] = (st.st_size, st.st_mtime_ns, hashlib.sha256(f.read()).hexdigest())
    return out


def test_admin_refuses_hostile_requests_and_leaks_no_secret():
    g = Gateway(tls=True).start()
    try:
        a = Admin(g)
        port = g.admin_port
        basic = f"admin:{PASSWORD}"

        # -- unauthenticated, wrong password ----------------------------------------------
        for path in ("/api/v1/status", "/api/v1/tracking?mid=1", "/api/v1/tdc", "/api/v1/nope"):
            assert a.request("GET", path)[0] == 401, path
        for path in ("/ui/status", "/ui/tracking/1", "/nope"):
            status, hdrs, _, _ = a.request("GET", path)
            assert status == 302 and hdrs["location"].startswith("/login"), path
        assert a.request("POST", "/api/v1/tdc", body='{"enabled": false}')[0] == 401
        assert a.request("GET", "/api/v1/status", basic=f"admin:{GUESS}")[0] == 401
        assert a.request("GET", "/api/v1/status", basic=f"root:{PASSWORD}")[0] == 401
        assert a.request("GET", "/api/v1/status",
                         headers={"Authorization": "Basic !!notbase64"})[0] == 401
        assert a.request("GET", "/api/v1/status", basic=basic)[0] == 200  # the control

        # -- request smuggling, before login (issue 14): 400 + close, the second request unanswered
        host = f"Host: 127.0.0.1:{port}\r\n".encode()
        second = (b"GET /api/v1/status HTTP/1.1\r\n" + host + b"Authorization: Basic " +
                  base64.b64encode(basic.encode()) + b"\r\n\r\n")
        assert_smuggling_refused(port, b"POST /login HTTP/1.1\r\n" + host, second)
        for bad in (b"Content-Length: 4\r\nContent-Length: 4\r\n",
                    b"Transfer-Encoding : chunked\r\n",
                    b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"):
            data = http_raw(port, b"POST /login HTTP/1.1\r\n" + host + bad + b"\r\nabcd" + second)
            assert data.startswith(b"HTTP/1.1 400 ") and data.count(b"HTTP/1.") == 1, (bad, data)
        data = http_raw(port, b"GET /login HTTP/1.1\r\n" + host + b"X-Big: " + b"a" * (1 << 20) +
                        b"\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 431 "), data[:200]

        # -- bad Host (DNS rebinding): refused even with good credentials ----------------------
        for host in ("evil.test", f"evil.test:{port}", f"127.0.0.1:{port + 1}", ""):
            assert a.request("GET", "/api/v1/status", basic=basic, host=host)[0] in (400, 421), host

        # -- CSRF: a session without the token, a wrong token, a foreign Origin -----------------
        cfg_before = open(g.config_path, "rb").read()
        session, token, login_token = a.login()
        body = '{"enabled": true}'
        json_h = {"Content-Type": "application/json"}
        assert a.request("POST", "/api/v1/tdc", cookie=session, body=body, headers=json_h)[0] == 403
        assert a.request("POST", "/api/v1/tdc", cookie=session, body=body,
                         headers={**json_h, "X-CSRF-Token": "0" * len(token)})[0] == 403
        for origin in ("http://evil.test", f"http://evil.test:{port}", "null",
                       f"https://127.0.0.1.evil.test:{port}"):
            assert a.request("POST", "/api/v1/tdc", cookie=session, body=body,
                             headers={**json_h, "X-CSRF-Token": token, "Origin": origin})[0] \
                == 403, origin
        assert a.request("POST", "/ui/tdc", cookie=session, body={"enabled": "on"})[0] == 403
        assert a.request("POST", "/logout", cookie=session, body={})[0] == 403
        # The login form itself needs its token (login CSRF).
        assert a.request("POST", "/login", body={"user": "admin", "password": PASSWORD})[0] == 403
        assert open(g.config_path, "rb").read() == cfg_before
        # Control: the same request with the token and our own Origin is not refused as CSRF.
        status = a.request("POST", "/api/v1/tdc", cookie=session, body=body,
                           headers={**json_h, "X-CSRF-Token": token,
                                    "Origin": f"http://127.0.0.1:{port}"})[0]
        assert status != 403, status

        # -- MID parameters that are not numbers: 400/404, nothing on disk changes -------------
        before = snapshot(g.data_dir)
        cfg_before = open(g.config_path, "rb").read()
        bad = ["12abc", "../x", "..%2F..%2Fetc%2Fpasswd", "-1", "+1", "0x10", "1e3", " 1",
               "1%00", "99999999999999999999999999", "9" * 5000, "%FF", "1.0"]
        for v in bad:
            for path in (f"/api/v1/tracking?mid={v}", f"/api/v1/tracking/events?mid={v}",
                         f"/api/v1/tracking?limit={v}"):
                status, _, data, _ = a.request("GET", path.replace(" ", "%20"), basic=basic)
                assert status == 400, (path, status, data[:200])
            status, _, data, _ = a.request("GET", "/ui/tracking/" + v.replace(" ", "%20"),
                                           cookie=session)
            assert status in (400, 404), (v, status)
        for path in ("/api/v1/policies/..%2F..%2Fgateway.yaml", "/api/v1/policies/../../x",
                     "/ui/tracking/..%2F..%2Fspool"):
            status = a.request("GET", path, basic=basic, cookie=session)[0]
            assert status in (400, 404), (path, status)
        assert snapshot(g.data_dir) == before
        assert open(g.config_path, "rb").read() == cfg_before
        assert a.request("GET", "/api/v1/tracking?mid=1", basic=basic)[0] == 200  # control

        # -- no secret anywhere -------------------------------------------------------------
        key_pem = open(g.certs["key"]).read()
        key_lines = [line for line in key_pem.splitlines() if line and "-----" not in line]
        session_id = session.split("=", 1)[1]
        secrets = [PASSWORD, GUESS, session_id, token, login_token] + key_lines
        secrets += [base64.b64encode(basic.encode()).decode()]
        g.wait_log("admin")
        cmdline = open(f"/proc/{g.proc.pid}/cmdline", "rb").read().decode(errors="replace")
        assert g.stop() == 0
        texts = {
            "mail log": g.mail_log(),
            "stderr": open(os.path.join(g.workdir, "stderr.log"), errors="replace").read(),
            "cmdline": cmdline,
        }
        for name, text in texts.items():
            for secret in secrets:
                assert secret not in text, (name, secret[:6])
        for status, data in a.bodies:
            text = data.decode(errors="replace")
            # Pages for the logged-in user (a 404 page too) carry the session's CSRF token in their
            # logout form, readable only by that same-origin user; refusals (400/401/403/421)
            # carry no token at all, and no reply ever carries a password or the key.
            refused = status in (400, 401, 403, 421)
            for secret in [PASSWORD, GUESS] + key_lines + ([session_id, token] if refused else []):
                assert secret not in text, (status, text[:300])
        # The log does tell the operator what was refused.
        log = texts["mail log"]
        assert "login failed" in log and "CSRF" in log and "Host" in log
    finally:
        g.cleanup()
