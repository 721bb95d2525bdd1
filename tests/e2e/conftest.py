"""pytest hooks shared by every end-to-end file (docs/RELIABILITY.md, "Skips").

A skip must show. pytest exits 0 when tests were skipped, and ctest would count that as "Passed";
so a run in which something was skipped and nothing failed exits SKIP_EXIT_STATUS (77), which
tests/CMakeLists.txt declares as each e2e test's SKIP_RETURN_CODE: ctest reports it "Skipped".

Under CI=true a skip is a failure: CI installs and prepares everything the tests need, so a test
that would skip there is a broken CI setup. The skip's report becomes a failure that carries the
skip's reason."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

SKIP_EXIT_STATUS = 77


def skips_fail():
    return os.environ.get("CI") == "true"


def as_failure(report):
    """Under CI=true, turns a skip's report into a failure that shows the skip's reason."""
    if report.skipped and skips_fail() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (f"CI=true: a skip is a failure (CI installs everything the tests need)."
                           f"\nSkip reason: {reason}")
    return report


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    as_failure((yield).get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):  # a module-level pytest.skip()
    as_failure((yield).get_result())


SKIPPED = []


def pytest_runtest_logreport(report):
    if report.skipped:
        SKIPPED.append(report.nodeid)


def pytest_collectreport(report):
    if report.skipped:
        SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    # NO_TESTS_COLLECTED: a module-level skip leaves nothing to run. Without a skip it stays 5, a
    # failure, so a file whose tests all vanished shows too.
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) and SKIPPED:
        session.exitstatus = SKIP_EXIT_STATUS
