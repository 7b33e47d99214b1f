"""Progress display: a live bar on a terminal, plain periodic lines in a log, both read from the run ledger."""

import io

from rich.console import Console

from datafast.engine.ledger import RunStats
from datafast.engine.progress import RunProgress


def answered(ledger: RunStats, tokens: int = 0, cost: float | None = None) -> None:
    ledger.paid("p", tokens, 0, cost)
    ledger.succeeded_one("p")


def test_a_log_gets_plain_lines_with_counts_rate_and_eta():
    out = io.StringIO()
    progress = RunProgress(True, "RawDataset", console=Console(file=out, width=60), every=0)
    ledger = RunStats()
    for _ in range(4):
        ledger.resumed_one("p")
    progress.start(total=10, ledger=ledger)
    answered(ledger, tokens=1000, cost=0.008)
    ledger.paid("p", 200, 0, 0.002)  # a rejected answer, asked again
    ledger.asked_again_one("p")
    ledger.retried("p", rate_limited=False)
    ledger.failed_one("p", "transient")
    progress.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # one per change (the end adds nothing new), never cut to the width
    assert lines[0].startswith("RawDataset: 5/10 requests, ") and " req/s, eta " in lines[0]
    assert lines[0].endswith("1,000 tok $0.0080 resumed 4")
    assert lines[1].endswith("1,200 tok $0.0100 resumed 4 asked again 1")
    assert lines[-1].startswith("RawDataset: 6/10 requests") and lines[-1].endswith("retries 1 asked again 1 failed 1")


def test_lines_come_at_most_every_period_and_resumed_requests_do_not_count_in_the_rate():
    out = io.StringIO()
    progress = RunProgress(True, "X", console=Console(file=out), every=3600)
    ledger = RunStats()
    progress.start(total=3, ledger=ledger)
    for _ in range(3):
        ledger.resumed_one("p")
    assert out.getvalue() == ""
    progress.stop()
    assert out.getvalue().splitlines() == ["X: 3/3 requests, 0 tok resumed 3"]


def test_a_terminal_gets_the_live_bar():
    out = io.StringIO()
    progress = RunProgress(True, "RawDataset", console=Console(file=out, force_terminal=True, width=150))
    ledger = RunStats()
    progress.start(total=2, ledger=ledger)
    answered(ledger, tokens=10)
    answered(ledger, tokens=10)
    progress.stop()
    assert "2/2" in out.getvalue() and "20 tok" in out.getvalue() and "━" in out.getvalue()
    assert "$" not in out.getvalue()  # nothing had a price


def test_disabled_shows_nothing():
    out = io.StringIO()
    progress = RunProgress(False, "X", console=Console(file=out, force_terminal=True))
    ledger = RunStats()
    progress.start(total=1, ledger=ledger)
    answered(ledger)
    progress.stop()
    assert out.getvalue() == "" and ledger.listener is None


def test_the_closing_line_is_not_a_repeat_of_the_last_one():
    out = io.StringIO()
    progress = RunProgress(True, "X", console=Console(file=out), every=0)
    ledger = RunStats()
    progress.start(total=2, ledger=ledger)
    answered(ledger, tokens=5)
    answered(ledger, tokens=5)
    progress.stop()
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == ["X: 1/2 requests", "X: 2/2 requests"]


def test_answers_asked_again_are_told_apart_from_retries():
    out = io.StringIO()
    progress = RunProgress(True, "X", console=Console(file=out), every=0)
    ledger = RunStats()
    progress.start(total=1, ledger=ledger)
    ledger.retried("p", rate_limited=True)
    ledger.asked_again_one("p")
    ledger.asked_again_one("p")
    assert out.getvalue().splitlines()[-1].endswith("0 tok retries 1 asked again 2")
    assert ledger.rate_limited == 1 and ledger.providers["p"].asked_again == 2
