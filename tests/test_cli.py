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


# --- segment show, segment log and export log on a store with a real membership log ------------------

JUNE = "2026-06-01T00:00:00+00:00"


@pytest.fixture
def logged(tmp_path):
    """A sqlite store whose segment seg-1 ('ordered in the last 30 days') has a real membership log.

    c1 orders on June 10 12:00 and leaves 30 days later (July 10 12:00); the engine then stands on
    July 15, when c2's order of June 20 08:00 arrives late: it is logged at July 15 with late=True.
    """
    from engagekit import Contact, Event, LiveEngine, last, ordered
    from engagekit.stores.sql.sqlite import SQLiteStore

    path = tmp_path / "log.db"
    store = SQLiteStore(path, currency="PLN")
    store.add_contacts([Contact(id=c, status="subscribed", created_at="2026-01-01T00:00:00+00:00")
                        for c in ("c1", "c2")])
    segment = store.create_segment(ordered(within=last(days=30)), name="recent buyers")
    assert segment.id == "seg-1"
    engine = LiveEngine(store, start=JUNE)
    engine.add_events([Event(id="e1", contact_id="c1", type="order", at="2026-06-10T12:00:00+00:00",
                             order_id="o1", value="99.00", currency="PLN")])
    engine.advance(to="2026-07-15T00:00:00+00:00")
    engine.add_events([Event(id="e2", contact_id="c2", type="order", at="2026-06-20T08:00:00+00:00",
                             order_id="o2", value="10.00", currency="PLN")])
    store.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, "--store", f"sqlite:{path}", cwd=tmp_path)

    return cli


EXPECTED_LOG = [("2026-06-10T12:00:00+00:00", "c1", "added", False),
                ("2026-07-10T12:00:00+00:00", "c1", "removed", False),
                ("2026-07-15T00:00:00+00:00", "c2", "added", True)]


def test_segment_show_table_and_json(logged):
    import json

    table = logged("segment", "show", "seg-1")
    assert table.returncode == 0, table.stderr
    assert table.stderr == ""
    fields = dict(line.split(None, 1) for line in table.stdout.splitlines())
    assert fields["id"] == "seg-1"
    assert fields["name"] == "recent buyers"
    assert fields["active"] == "True"
    assert fields["description"] == "ordered at least once in the last 30 days"
    as_json = logged("segment", "show", "seg-1", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["id"], data["name"], data["active"]) == ("seg-1", "recent buyers", True)
    assert data["filter"] == {"engagekit_filter": 1, "filter": {"ordered": {
        "at_least": 1, "at_most": None, "within": {"last": {"days": 30}}}}}
    assert data["created_at"].endswith("+00:00")
    assert json.loads(json.dumps(data["filter"])) == json.loads(fields["filter"])  # same filter both ways


def test_segment_show_and_list_count_members_at_the_instant_asked(logged):
    """member_count is the segment's members at --at (default: now), as ``segment members`` lists them.

    On July 15 c1's order (June 10) has left the 30-day window and c2's late order (June 20) is in
    it: one member, although the live engine had saved 0 before c2's order arrived."""
    import json

    july = "2026-07-15T00:00:00+00:00"
    members = logged("segment", "members", "seg-1", "--at", july, "--json")
    assert json.loads(members.stdout) == ["c2"]
    shown = logged("segment", "show", "seg-1", "--at", july, "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert (data["member_count"], data["member_count_at"]) == (1, july)
    assert data["last_generated_at"] == july
    table = logged("segment", "show", "seg-1", "--at", "2026-06-15T00:00:00+00:00")
    fields = dict(line.split(None, 1) for line in table.stdout.splitlines())
    assert fields["member_count"] == "1"  # c1 alone, before anything was late
    # without --at: now, long after both orders left the window, as segment members says
    now = json.loads(logged("segment", "show", "seg-1", "--json").stdout)
    assert now["member_count"] == 0
    assert json.loads(logged("segment", "members", "seg-1", "--json").stdout) == []
    listed = logged("segment", "list", "--at", july, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(s["id"], s["member_count"]) for s in json.loads(listed.stdout)] == [("seg-1", 1)]
    table = logged("segment", "list", "--at", july)
    row = next(line.split() for line in table.stdout.splitlines() if line.split()[:1] == ["seg-1"])
    assert row[:5] == ["seg-1", "recent", "buyers", "yes", "1"]


def test_segment_log_table_json_and_bounds(logged):
    import json

    as_json = logged("segment", "log", "seg-1", "--json")
    assert as_json.returncode == 0, as_json.stderr
    entries = [(e["at"], e["contact_id"], e["change"], e["late"]) for e in json.loads(as_json.stdout)]
    assert entries == EXPECTED_LOG
    table = logged("segment", "log", "seg-1")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()[1:] if line.strip() and not set(line) <= {"-", " "}]
    assert [tuple(r) for r in rows] == [(*e[:3], "late")[:4 if e[3] else 3] for e in EXPECTED_LOG]
    bounded = logged("segment", "log", "seg-1", "--since", "2026-06-15T00:00:00+00:00",
                     "--until", "2026-07-15T00:00:00+00:00", "--json")
    assert [e["change"] for e in json.loads(bounded.stdout)] == ["removed"]  # until is exclusive
    one = logged("segment", "log", "seg-1", "--contact", "c1", "--json")
    assert [e["change"] for e in json.loads(one.stdout)] == ["added", "removed"]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_export_log_writes_every_entry(logged, tmp_path, suffix):
    import csv
    import json

    result = logged("export", "log", "seg-1", f"log.{suffix}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"3 rows written to log.{suffix}"
    text = (tmp_path / f"log.{suffix}").read_text()
    if suffix == "csv":
        rows = list(csv.DictReader(text.splitlines()))
        got = [(r["at"], r["contact_id"], r["change"], r["late"] == "true") for r in rows]
    else:
        rows = [json.loads(line) for line in text.splitlines()]
        got = [(r["at"], r["contact_id"], r["change"], r["late"]) for r in rows]
    assert [r["segment_id"] for r in rows] == ["seg-1"] * 3
    assert [(g[0].replace("Z", "+00:00"), *g[1:]) for g in got] == EXPECTED_LOG
    as_json = logged("export", "log", "seg-1", f"again.{suffix}", "--json")
    assert json.loads(as_json.stdout) == {"path": f"again.{suffix}", "rows": 3}


# --- every verb's error path: one line, exit 1, no traceback (unless --debug) -----------------------

FAILING = {
    "import": ["import", "contacts", "missing.csv"],
    "export members": ["export", "members", "seg-404", "out.csv"],
    "export log": ["export", "log", "seg-404", "out.csv"],
    "dashboard": ["dashboard", "--view", "bogus"],
    "segment create": ["segment", "create", '{"engagekit_filter": 1, "filter": {"node": "nonsense"}}'],
    "segment show": ["segment", "show", "seg-404"],
    "segment members": ["segment", "members", "seg-404"],
    "segment log": ["segment", "log", "seg-404"],
    "segment explain": ["segment", "explain", "seg-1", "nobody", "--at", AT],
    "segment preview": ["segment", "preview", "not json", "--against", "seg-1"],
}


@pytest.mark.parametrize("verb", sorted(FAILING))
def test_every_verb_fails_on_one_line(logged, tmp_path, verb):
    result = logged(*FAILING[verb])
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("engagekit: error: "), lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.partial").exists()


@pytest.mark.parametrize("verb", ["import", "export log", "segment show", "segment log"])
def test_debug_shows_the_traceback_for_every_kind_of_verb(logged, verb):
    result = logged("--debug", *FAILING[verb])
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr


def test_segment_list_on_an_unopenable_store_is_one_line(tmp_path):
    result = run("segment", "list", "--store", f"sqlite:{tmp_path / 'no' / 'such' / 'x.db'}", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("engagekit: error: cannot open store ")
    assert len(result.stderr.strip().splitlines()) == 1


# --- progress on stderr -------------------------------------------------------------------------------

def test_no_progress_without_a_terminal(shop):
    result = shop("import", "events", "events.jsonl")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # captured stderr is no terminal: nothing extra
    exported = shop("export", "log", "seg-404", "out.csv")
    assert "rows" not in exported.stderr


def test_progress_forced_goes_to_stderr_never_into_json(shop):
    import json

    result = shop("import", "events", "events.jsonl", "--progress", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["duplicates"] == 2  # stdout is still pure JSON
    assert "import events.jsonl" in result.stderr
    assert "2" in result.stderr.rsplit("import events.jsonl", 1)[1]
    assert "Traceback" not in result.stderr


def test_progress_without_the_cli_extra_is_a_plain_line(shop, tmp_path):
    """tqdm made unimportable (as without ``engagekit[cli]``): a plain line, no crash."""
    import os

    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "tqdm.py").write_text('raise ImportError("engagekit[cli] is not installed")\n')
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    store = ("--store", f"sqlite:{tmp_path / 'shop.db'}")
    imported = subprocess.run([sys.executable, "-m", "engagekit", "import", "contacts", "contacts.jsonl", "--progress",
                               *store], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False)
    assert imported.returncode == 0, imported.stderr
    assert imported.stderr.splitlines() == ["import contacts.jsonl: 3 rows", "import contacts.jsonl: 3 rows, done"]
    everyone = '{"engagekit_filter": 1, "filter": {"everyone": {}}}'
    exported = subprocess.run([sys.executable, "-m", "engagekit", "export", "members", everyone, "m.csv", "--at", AT,
                               "--progress", *store], capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=300, check=False)
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.splitlines()[-1] == "export m.csv: 3 of 3 rows, done"
    assert exported.stdout.strip() == "3 rows written to m.csv"


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("extra", [[], ["--json"], ["--no-progress"]])
def test_progress_by_default_only_on_a_terminal_without_json(shop, tmp_path, extra):
    import fcntl
    import os
    import struct
    import termios

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    try:
        done = subprocess.run([sys.executable, "-m", "engagekit", "import", "events", "events.jsonl", *extra,
                               "--store", f"sqlite:{tmp_path / 'shop.db'}"], stdout=subprocess.PIPE,
                              stderr=follower, text=True, cwd=tmp_path, timeout=300, check=False)
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed once read to the end
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    if extra:
        assert drawn == b""
    else:
        assert b"import events.jsonl" in drawn
