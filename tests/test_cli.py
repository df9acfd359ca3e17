"""``python -m engagekit demo`` end to end, through a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engagekit.cli import main
from engagekit.demo import SEED_SEGMENTS, VIEWS


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engagekit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=False)


def check_report(stdout: str) -> None:
    lines = stdout.splitlines()
    for view in VIEWS:
        for state in ("engaged", "unengaged", "blocked"):
            assert any(line.split()[:2] == [view, state] for line in lines), (view, state)
    for flt in SEED_SEGMENTS:
        assert any(line.startswith(flt.describe()) for line in lines), flt


def test_demo_in_memory(tmp_path):
    result = run("demo", "--store", "memory", "--contacts", "300", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "300 contacts" in result.stdout
    check_report(result.stdout)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_demo_default_is_a_sqlite_file_and_rerunning_is_idempotent(tmp_path):
    first = run("demo", "--contacts", "300", "--seed", "5", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "engagekit-demo.db").is_file()
    check_report(first.stdout)
    second = run("demo", "--contacts", "300", "--seed", "5", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""  # no "other data" note: the same shop
    assert "0 new" in second.stdout and "0 added" in second.stdout
    report = lambda out: out.split("\n\n", 1)[1]  # noqa: E731 - the report after the load summary
    assert report(second.stdout) == report(first.stdout)


def test_memory_and_sqlite_agree(tmp_path):
    memory = run("demo", "--store", "memory", "--contacts", "200", cwd=tmp_path)
    sqlite = run("demo", "--store", f"sqlite:{tmp_path / 'x.db'}", "--contacts", "200", cwd=tmp_path)
    assert memory.returncode == sqlite.returncode == 0, (memory.stderr, sqlite.stderr)
    assert memory.stdout.split("\n\n", 1)[1] == sqlite.stdout.split("\n\n", 1)[1]


@pytest.mark.parametrize("url", ["nosuchstore:x", "sqlite:/nonexistent-dir/sub/x.db"])
def test_bad_store_is_one_line_error(tmp_path, url):
    result = run("demo", "--store", url, "--contacts", "10", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("engagekit: error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["demo", "--contacts", "lots"], ["demo", "--contacts", "0"], [],
                                  ["frobnicate"], ["demo", "--now", "2026-01-01T00:00:00"]])
def test_usage_errors_exit_2_with_one_line(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("engagekit: error: ")


def test_debug_shows_the_traceback(tmp_path):
    result = run("--debug", "demo", "--store", "nosuchstore:x", "--contacts", "10", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_help_exits_0(capsys):
    result = run("demo", "--help")
    assert result.returncode == 0
    assert "--store" in result.stdout
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("engagekit ")


def test_other_data_in_the_store_gets_a_note(tmp_path):
    assert run("demo", "--contacts", "50", "--seed", "1", cwd=tmp_path).returncode == 0
    result = run("demo", "--contacts", "50", "--seed", "2", cwd=tmp_path)
    assert result.returncode == 0
    assert "note:" in result.stderr
