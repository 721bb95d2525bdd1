"""The harness's free_port() (tests/e2e/harness.py): a port it handed out is never handed out
again while the process that got it lives, neither to that process nor to a parallel test process,
even though nothing listens on it any more; the reservation ends with the process. This is what
lets test_kill9_loop restart a killed gateway on its ports while other tests run beside it.

Each check narrows the range free_port looks in (harness.port_range) to the one port in question,
so the answer does not depend on luck."""
import os
import subprocess
import sys

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def in_child(code):
    """Runs `code` in a new Python process with the harness imported; returns its stdout."""
    r = subprocess.run([sys.executable, "-c", "import harness\n" + code], cwd=HERE,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def narrowed_to(port):
    return f"harness.port_range = lambda: ({port}, {port + 1})\n"


def test_a_port_is_not_handed_out_twice_in_one_process(monkeypatch):
    port = harness.free_port()  # nothing binds it: the reservation alone must hold
    monkeypatch.setattr(harness, "port_range", lambda: (port, port + 1))
    with pytest.raises(AssertionError, match="no free port"):
        harness.free_port()


def test_a_port_reserved_here_is_not_handed_out_to_another_process():
    port = harness.free_port()
    out = in_child(narrowed_to(port) + "try:\n    print(harness.free_port())\n"
                   "except AssertionError as e:\n    print('refused', e)\n")
    assert out.startswith("refused no free port"), out


def test_the_reservation_ends_with_the_process():
    port = int(in_child("print(harness.free_port())"))
    # That process has exited: the kernel dropped its lock, so the port is free for anyone.
    assert int(in_child(narrowed_to(port) + "print(harness.free_port())")) == port


def test_free_ports_gives_distinct_ports():
    ports = harness.free_ports([f"p{i}" for i in range(50)], udp=("p0", "p1"))
    assert len(set(ports.values())) == 50
