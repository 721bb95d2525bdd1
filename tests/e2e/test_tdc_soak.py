"""The short soak of the Threat Defense Connector (issue 9): soak.py with 10 s phases. Under a
steady offered load, the intake goes healthy → down → blackhole → slow → 4xx → 5xx → badcert →
healthy; the originals keep their throughput and final-dot p99 (within 5% of the healthy phase,
with soak.Settings.p99_floor_ms of absolute slack, a miss confirmed by a second run), the
gateway's RSS stays bounded, and every journal copy ends with exactly one terminal TDC line.
`make soak` runs the same with 60 s phases. Wall time: about 100 s (up to twice that when a
performance miss has to be confirmed)."""
import soak


def test_tdc_faults_leave_originals_alone():
    settings = soak.Settings(phase_seconds=10.0, warmup_seconds=3.0).with_env()
    runs, failures = soak.soak(settings)
    text = soak.report(runs, failures)
    print(text)
    assert not failures, text
