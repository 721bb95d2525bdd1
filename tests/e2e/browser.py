"""browser.py — running one tests/webui/*.test.mjs file (playwright-core driving Debian's
chromium, under node's test runner) from an e2e test: the check that both are installed (a
missing one fails, it never skips) and the run, whose output is printed and whose failure shows
the end of the gateway's mail log."""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
WEBUI = os.path.join(HERE, "..", "webui")


def out_dir(name):
    """Where a browser test's screenshots go: tests/out/<name> (git-ignored)."""
    return os.path.abspath(os.path.join(HERE, "..", "out", name))


def require_browser():
    assert os.path.exists("/usr/bin/chromium"), "chromium is missing: run `make deps`"
    assert os.path.isdir(os.path.join(WEBUI, "node_modules", "playwright-core")), \
        "playwright-core is missing: run `make deps`"


def run_webui(script, gateway, what="browser test", **env):
    """Runs tests/webui/<script> with `env` added to this process's environment; asserts that
    every test in it passed."""
    run = subprocess.run(["node", "--test", "--test-reporter=spec", script], cwd=WEBUI,
                         env=dict(os.environ, **env), capture_output=True, text=True, timeout=300)
    print(run.stdout)
    print(run.stderr)
    assert run.returncode == 0, f"{what} failed (output above); gateway log:\n" + \
        gateway.mail_log()[-4000:]
