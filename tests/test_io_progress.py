"""Progress of imports and exports: tqdm when the ``cli`` extra is there, a plain line otherwise."""

from __future__ import annotations

import io

import pytest

from engagekit.io.progress import Progress, isatty


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_off_a_terminal_one_per_update():
    stream = io.StringIO()
    with Progress("import e.csv", stream, plain=True) as bar:
        bar.update(10_000)
        bar.update(20_000, 25_000)
        bar.update(25_000)
    assert stream.getvalue().splitlines() == [
        "import e.csv: 10,000 rows",
        "import e.csv: 20,000 of 25,000 rows",
        "import e.csv: 25,000 of 25,000 rows",
        "import e.csv: 25,000 of 25,000 rows, done",
    ]


def test_plain_on_a_terminal_is_rewritten_in_place_and_throttled():
    stream = Terminal()
    with Progress("export m.csv", stream, plain=True, interval=3600) as bar:
        bar.update(1)
        bar.update(2)  # within the interval: not drawn
        bar.update(3)
    assert stream.getvalue() == "\rexport m.csv: 1 rows\rexport m.csv: 3 rows, done\n"


def test_a_failure_ends_the_line_without_done():
    stream = io.StringIO()
    with pytest.raises(RuntimeError), Progress("import e.csv", stream, plain=True) as bar:
        bar.update(5)
        raise RuntimeError("boom")
    assert stream.getvalue().splitlines() == ["import e.csv: 5 rows", "import e.csv: 5 rows"]


def test_disabled_draws_nothing():
    stream = Terminal()
    with Progress("import e.csv", stream, enabled=False) as bar:
        bar.update(10)
    assert stream.getvalue() == ""
    assert bar.done == 10


def test_tqdm_bar_when_the_extra_is_installed():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    with Progress("import e.csv", stream) as bar:
        bar.update(7, 9)
    text = stream.getvalue()
    assert "import e.csv" in text
    assert "7/9" in text


def test_isatty_of_odd_streams():
    closed = io.StringIO()
    closed.close()
    assert isatty(closed) is False
    assert isatty(Terminal()) is True
    assert isatty(object()) is False  # type: ignore[arg-type]
