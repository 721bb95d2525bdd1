"""The short soak of the Threat Defense Connector (issue 9): soak.py with one cycle of short
blocks. Under a steady offered load (100 messages/s), the intake alternates between healthy and
each fault (down, blackhole, slow, 4xx, 5xx, badcert, and the A/A control "aa") in a random order;
the originals keep their throughput (within 5%) and their final-dot p99 (not significantly above
1.05x healthy: soak.quantile_test, a miss confirmed by a second run; both bounds times
TIDEGATE_TIMING_SLACK in the sanitizer run, soak.Settings.p99_factor), the gateway's RSS stays
bounded, and every journal copy ends with exactly one terminal TDC line. `make soak` runs three
cycles of 15 s blocks. ctest runs it alone (RUN_SERIAL): it measures latency. Wall time: about
110 s (up to twice that when a performance miss has to be confirmed)."""
import soak


def test_tdc_faults_leave_originals_alone():
    settings = soak.Settings(cycles=1, healthy_seconds=8.0, fault_seconds=6.0, tdc_lifetime=3,
                             warmup_seconds=3.0).with_env()
    runs, failures = soak.soak(settings)
    text = soak.report(runs, failures)
    print(text)
    assert not failures, text
