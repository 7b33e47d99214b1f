"""Progress display: a live bar on a terminal, plain periodic lines in a log."""

import io

from rich.console import Console

from datafast.engine.progress import RunProgress


def test_a_log_gets_plain_lines_with_counts_rate_and_eta():
    out = io.StringIO()
    progress = RunProgress(True, "RawDataset", console=Console(file=out, width=60), every=0)
    progress.start(total=10, already_done=4)
    progress.advance(tokens=1000, cost=0.008)
    progress.spent(tokens=200, cost=0.002)  # a rejected answer
    progress.retry()
    progress.advance(failed=True)
    progress.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # one per change (the end adds nothing new), never cut to the width
    assert lines[0].startswith("RawDataset: 5/10 requests, ") and " req/s, eta " in lines[0]
    assert lines[0].endswith("1,000 tok $0.0080") and lines[1].endswith("1,200 tok $0.0100")
    assert lines[-1].startswith("RawDataset: 6/10 requests") and lines[-1].endswith("retries 1 failed 1")


def test_lines_come_at_most_every_period_and_resumed_requests_do_not_count_in_the_rate():
    out = io.StringIO()
    progress = RunProgress(True, "X", console=Console(file=out), every=3600)
    progress.start(total=3, already_done=0)
    for _ in range(3):
        progress.advance(resumed=True)
    assert out.getvalue() == ""
    progress.stop()
    assert out.getvalue().splitlines() == ["X: 3/3 requests, 0 tok resumed 3"]


def test_a_terminal_gets_the_live_bar():
    out = io.StringIO()
    progress = RunProgress(True, "RawDataset", console=Console(file=out, force_terminal=True, width=150))
    progress.start(total=2, already_done=0)
    progress.advance(tokens=10)
    progress.advance(tokens=10)
    progress.stop()
    assert "2/2" in out.getvalue() and "20 tok" in out.getvalue() and "━" in out.getvalue()
    assert "$" not in out.getvalue()  # nothing had a price


def test_disabled_shows_nothing():
    out = io.StringIO()
    progress = RunProgress(False, "X", console=Console(file=out, force_terminal=True))
    progress.start(total=1, already_done=0)
    progress.advance()
    progress.stop()
    assert out.getvalue() == ""


def test_the_closing_line_is_not_a_repeat_of_the_last_one():
    out = io.StringIO()
    progress = RunProgress(True, "X", console=Console(file=out), every=0)
    progress.start(total=2, already_done=0)
    progress.advance(tokens=5)
    progress.advance(tokens=5)
    progress.stop()
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == ["X: 1/2 requests", "X: 2/2 requests"]


def test_answers_asked_again_are_told_apart_from_retries():
    out = io.StringIO()
    progress = RunProgress(True, "X", console=Console(file=out), every=0)
    progress.start(total=1, already_done=0)
    progress.retry()
    progress.retry(asked_again=True)
    progress.retry(asked_again=True)
    assert out.getvalue().splitlines()[-1].endswith("0 tok retries 1 asked again 2")
