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


# --- the verbs on a store --------------------------------------------------------------------------

AT = "2026-06-30T12:00:00+00:00"


@pytest.fixture
def shop(tmp_path):
    """A sqlite store with three contacts and two events imported through the CLI; returns run(...) there."""
    import json

    from engagekit import Contact, Event

    contacts = [Contact(id="c1", email="a@example.com", tags={"vip"}, status="subscribed",
                        created_at="2026-01-01T00:00:00+00:00"),
                Contact(id="c2", email="b@example.com", status="subscribed", created_at="2026-01-01T00:00:00+00:00"),
                Contact(id="c3", tags={"vip"}, created_at="2026-01-01T00:00:00+00:00")]
    events = [Event(id="e1", contact_id="c1", type="order", at="2026-06-01T10:00:00+00:00", order_id="o1",
                    value="100.00", currency="PLN"),
              Event(id="e2", contact_id="c2", type="order", at="2026-06-02T10:00:00+00:00", order_id="o2",
                    value="50.00", currency="PLN")]
    (tmp_path / "contacts.jsonl").write_text("".join(json.dumps(c.to_dict()) + "\n" for c in contacts))
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events))
    store = ("--store", f"sqlite:{tmp_path / 'shop.db'}")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, *store, cwd=tmp_path)

    for kind in ("contacts", "events"):
        result = cli("import", kind, f"{kind}.jsonl")
        assert result.returncode == 0, result.stderr
        assert "rejected" in result.stdout
    return cli


def vip_buyers() -> str:
    from engagekit import ordered, tag

    return (tag("vip") & ordered()).to_json()


def test_import_reports_totals(shop, tmp_path):
    import json

    again = shop("import", "events", "events.jsonl", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["rows"], report["added"], report["duplicates"], report["rejected"]) == (2, 0, 2, 0)
    (tmp_path / "bad.jsonl").write_text('{"id": "c9"}\n')
    bad = shop("import", "contacts", "bad.jsonl")
    assert bad.returncode == 1
    assert "line 1" in bad.stdout
    assert shop("import", "contacts", "bad.jsonl", "--skip-invalid").returncode == 0


def test_segment_create_members_and_explain(shop, tmp_path):
    import json

    created = shop("segment", "create", vip_buyers(), "--name", "VIP buyers", "--json")
    assert created.returncode == 0, created.stderr
    segment_id = json.loads(created.stdout)["id"]
    assert segment_id == "seg-1"
    members = shop("segment", "members", segment_id, "--at", AT)
    assert members.returncode == 0, members.stderr
    assert members.stdout.split() == ["c1"]  # c2 ordered but is no vip, c3 is a vip with no order
    (tmp_path / "vip.json").write_text(vip_buyers())
    assert shop("segment", "create", "@vip.json").returncode == 0
    listed = shop("segment", "list", "--json")
    assert [s["id"] for s in json.loads(listed.stdout)] == ["seg-1", "seg-2"]
    yes = shop("segment", "explain", segment_id, "c1", "--at", AT)
    no = shop("segment", "explain", segment_id, "c3", "--at", AT)
    assert yes.returncode == no.returncode == 0, (yes.stderr, no.stderr)
    assert yes.stdout.startswith("✓") and no.stdout.startswith("✗")
    assert "✓" in no.stdout  # c3's tag holds, its order count does not
    tree = json.loads(shop("segment", "explain", segment_id, "c3", "--at", AT, "--json").stdout)
    assert tree["holds"] is False and tree["children"]
    preview = json.loads(shop("segment", "preview", vip_buyers(), "--against", segment_id, "--at", AT,
                              "--json").stdout)
    assert (preview["count"], preview["staying"], preview["entering"]) == (1, 1, 0)
    exported = shop("export", "members", segment_id, "members.csv", "--fields", "id,email", "--at", AT)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "members.csv").read_text().splitlines() == ["id,email", "c1,a@example.com"]


def test_dashboard_json_has_the_three_groups(shop):
    import json

    result = shop("dashboard", "--json", "--at", AT)
    assert result.returncode == 0, result.stderr
    dash = json.loads(result.stdout)
    assert set(dash["groups"]) == {"engaged", "unengaged", "blocked"}
    assert sum(g["count"] for g in dash["groups"].values()) == 3
    table = shop("dashboard", "--at", AT)
    assert table.returncode == 0 and "engaged" in table.stdout


@pytest.mark.parametrize("text", ['{"engagekit_filter": 1, "filter": {"node": "nonsense"}}', "not json"])
def test_invalid_filter_is_one_line_error(shop, text):
    result = shop("segment", "create", text)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("engagekit: error: ")
    assert "Traceback" not in result.stderr
