"""The ``engagekit`` command line (``python -m engagekit`` too).

``engagekit demo [--store URL] [--contacts N] [--seed S]`` builds the demo shop in a store (by
default the SQLite file ``engagekit-demo.db`` in the current directory, so it can be reopened) and
prints the contacts dashboard, the seed segments and the campaigns (targeted against mass).
Re-running it on the same store is idempotent: the demo's ids repeat, so every event is a duplicate
the second time.

The other verbs work on a store (``--store URL``, ``--currency``; ``--json`` for machine output):
``import contacts|events PATH``, ``export members|log``, ``dashboard``, ``segment
create|list|show|members|log|explain|preview`` and ``report segments|campaigns``. A FILTER argument
is the JSON of ``Filter.to_json()``, or ``@PATH`` / a path to a file holding it.

Errors are one line on stderr (``--debug`` shows the traceback): exit code 2 for a usage error,
1 for any other error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeAlias

from .errors import EngagekitError

if TYPE_CHECKING:
    from .explain import Explanation
    from .filters import Filter
    from .io.progress import Progress
    from .stores.base import StoreBase

DEFAULT_STORE = "sqlite:engagekit-demo.db"
DEFAULT_CONTACTS = 2000
DEFAULT_CURRENCY = "PLN"
EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A command line that does not parse (exit code 2)."""


class CommandError(Exception):
    """A failure the command reports in one line (exit code 1)."""


def _database_errors() -> tuple[type[BaseException], ...]:
    """The drivers' own error classes (a missing file, a refused connection …), for those loaded."""
    import sqlite3

    errors: list[type[BaseException]] = [sqlite3.Error]
    for module, name in (("duckdb", "Error"), ("psycopg", "Error")):
        loaded = sys.modules.get(module)
        error = getattr(loaded, name, None) if loaded is not None else None
        if isinstance(error, type) and issubclass(error, BaseException):
            errors.append(error)
    return tuple(errors)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and raises instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _instant(text: str) -> str:
    from .errors import InvalidInstant
    from .time import instant

    try:
        instant(text, field="--now")
    except InvalidInstant as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--now: ")) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")
    parser = _Parser(prog="engagekit", parents=[common],
                     description="E-commerce contact segmentation: engaged/unengaged/blocked, segments, metrics.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo = commands.add_parser(
        "demo", parents=[common], help="build a synthetic shop in a store and print its dashboard",
        description="Build the demo shop in a store and print the contacts dashboard, the seed segments and "
                    "the campaigns, targeted against mass.")
    demo.add_argument("--store", default=DEFAULT_STORE, metavar="URL",
                      help=f"memory, sqlite:PATH, duckdb:PATH or postgres:DSN (default: {DEFAULT_STORE})")
    demo.add_argument("--contacts", type=_positive, default=DEFAULT_CONTACTS, metavar="N",
                      help=f"number of contacts (default: {DEFAULT_CONTACTS}; ~20 events each)")
    demo.add_argument("--seed", type=_integer, default=0, metavar="S", help="random seed (default: 0)")
    demo.add_argument("--now", type=_instant, default=None, metavar="INSTANT",
                      help="end of the shop's history, ISO 8601 with an offset (default: 2026-06-30T12:00:00+00:00)")
    on_store = _Parser(add_help=False, parents=[common])
    on_store.add_argument("--store", default=DEFAULT_STORE, metavar="URL",
                          help=f"memory, sqlite:PATH, duckdb:PATH or postgres:DSN (default: {DEFAULT_STORE})")
    on_store.add_argument("--currency", default=DEFAULT_CURRENCY,
                          help=f"the store's currency (default: {DEFAULT_CURRENCY})")
    on_store.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_import(commands, on_store)
    _add_export(commands, on_store)
    _add_dashboard(commands, on_store)
    _add_segment(commands, on_store)
    _add_report(commands, on_store)
    return parser


Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"
AT_HELP = "the instant, ISO 8601 with an offset (default: now)"


def _add_at(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--at", type=_instant, default=None, metavar="ISO", help=AT_HELP)


def _add_import(commands: Subparsers, on_store: _Parser) -> None:
    parser = commands.add_parser("import", parents=[on_store], help="import contacts or events from a file",
                                 description="Import contacts or events from CSV, JSON Lines or Parquet.")
    parser.add_argument("kind", choices=("contacts", "events"))
    parser.add_argument("path", metavar="PATH")
    parser.add_argument("--format", choices=("csv", "jsonl", "parquet"), default=None,
                        help="the file's format (default: from its extension)")
    parser.add_argument("--mapping", choices=("engagekit", "shopify"), default="engagekit",
                        help="the columns' meaning (default: engagekit's own format)")
    parser.add_argument("--skip-invalid", action="store_true", help="store the valid rows, skip the others")
    parser.add_argument("--rejects", metavar="PATH", default=None, help="write every rejected row to PATH")
    _add_progress(parser)
    parser.set_defaults(handler=run_import)


def _add_export(commands: Subparsers, on_store: _Parser) -> None:
    parser = commands.add_parser("export", help="export members or a segment's log",
                                 description="Write members of a filter or segment, or a membership log.")
    verbs = parser.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser, required=True)
    members = verbs.add_parser("members", parents=[on_store], help="members of a filter or segment")
    members.add_argument("target", metavar="FILTER_OR_SEGMENT")
    members.add_argument("path", metavar="PATH")
    members.add_argument("--fields", default=None, metavar="id,email,...",
                         help="comma-separated contact fields (default: id, email and more)")
    _add_at(members)
    _add_progress(members)
    members.set_defaults(handler=run_export_members)
    log = verbs.add_parser("log", parents=[on_store], help="a segment's membership log")
    log.add_argument("segment_id", metavar="SEGMENT_ID")
    log.add_argument("path", metavar="PATH")
    _add_progress(log)
    log.set_defaults(handler=run_export_log)


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress on stderr (default: when stderr is a terminal and without --json)")


def _add_dashboard(commands: Subparsers, on_store: _Parser) -> None:
    parser = commands.add_parser("dashboard", parents=[on_store], help="the contacts dashboard",
                                 description="Engaged, unengaged and blocked contacts and their 30-day change.")
    parser.add_argument("--view", default="subscribed+unknown", help="the view (default: subscribed+unknown)")
    parser.add_argument("--timeframe-days", type=_positive, default=180, metavar="N",
                        help="engaged means activity in the last N days (default: 180)")
    _add_at(parser)
    parser.set_defaults(handler=run_dashboard)


def _add_segment(commands: Subparsers, on_store: _Parser) -> None:
    parser = commands.add_parser("segment", help="saved segments: create, list, show, members, log, explain, preview",
                                 description="Work with saved segments.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser, required=True)
    create = verbs.add_parser("create", parents=[on_store], help="save a filter as a segment")
    create.add_argument("filter", metavar="FILTER")
    create.add_argument("--name", default=None, metavar="N", help="the name (default: the filter's description)")
    create.set_defaults(handler=run_segment_create)
    listing = verbs.add_parser("list", parents=[on_store], help="every saved segment, members counted at --at")
    _add_at(listing)
    listing.set_defaults(handler=run_segment_list)
    show = verbs.add_parser("show", parents=[on_store], help="one saved segment, members counted at --at")
    show.add_argument("segment_id", metavar="ID")
    _add_at(show)
    show.set_defaults(handler=run_segment_show)
    members = verbs.add_parser("members", parents=[on_store], help="a segment's member ids")
    members.add_argument("segment_id", metavar="ID")
    _add_at(members)
    members.set_defaults(handler=run_segment_members)
    log = verbs.add_parser("log", parents=[on_store], help="a segment's membership log")
    log.add_argument("segment_id", metavar="ID")
    log.add_argument("--since", type=_instant, default=None, metavar="ISO")
    log.add_argument("--until", type=_instant, default=None, metavar="ISO")
    log.add_argument("--contact", default=None, metavar="ID")
    log.set_defaults(handler=run_segment_log)
    explain = verbs.add_parser("explain", parents=[on_store], help="why a contact is or is not a member")
    explain.add_argument("target", metavar="ID_OR_FILTER")
    explain.add_argument("contact", metavar="CONTACT")
    _add_at(explain)
    explain.add_argument("--lang", choices=("en", "pl"), default="en")
    explain.set_defaults(handler=run_segment_explain)
    preview = verbs.add_parser("preview", parents=[on_store], help="who a filter adds or drops against another")
    preview.add_argument("filter", metavar="FILTER")
    preview.add_argument("--against", required=True, metavar="ID_OR_FILTER")
    _add_at(preview)
    preview.set_defaults(handler=run_segment_preview)


def _add_report(commands: Subparsers, on_store: _Parser) -> None:
    parser = commands.add_parser("report", help="segment report or campaign results",
                                 description="Saved segments with their campaigns' results, or every campaign's "
                                             "results (SPEC §10).")
    verbs = parser.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser, required=True)
    for what, help_text in (("segments", "one row per saved segment: metrics and its campaigns' results"),
                            ("campaigns", "one row per campaign: rates with 95% intervals")):
        verb = verbs.add_parser(what, parents=[on_store], help=help_text)
        _add_at(verb)
        verb.add_argument("--window-days", type=_positive, default=5, metavar="N",
                          help="attribution and unsubscribe window in days (default: 5)")
        verb.add_argument("--touch", choices=("click", "open"), default="click",
                          help="what attributes an order to a campaign (default: click)")
        verb.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    window = timedelta(days=args.window_days)
    if args.what == "segments":
        report = store.segment_report(at=args.at, window=window, touch=args.touch)
        if args.json:
            _print_json({"at": _when(report.at), "segments": report.to_dicts()}, out)
        else:
            print(report, file=out)
        return 0
    results = store.campaign_results(at=args.at, window=window, touch=args.touch)
    if args.json:
        _print_json(results.to_dicts(), out)
    else:
        print(results, file=out)
    return 0


def _version() -> str:
    from . import __version__

    return __version__


def run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .demo import demo_report, generate, load
    from .stores.url import open_store

    started = time.perf_counter()
    failures: tuple[type[BaseException], ...] = (EngagekitError, OSError, ImportError, *_database_errors())
    try:
        store = open_store(args.store, currency="PLN")
    except failures as exc:
        raise CommandError(f"cannot open store {args.store!r}: {_one_line(exc)}") from exc
    shop = generate(contacts=args.contacts, seed=args.seed, now=args.now)
    try:
        if shop.contacts:
            stored = store.contact(shop.contacts[0].id)
            if stored is not None and stored != shop.contacts[0]:
                print(f"engagekit: note: {args.store} already holds other data under the demo's ids "
                      "(another seed or --now?); results mix both", file=err)
        summary = load(store, shop)
        loaded = time.perf_counter() - started
        print(f"Demo shop: {len(shop.contacts):,} contacts (seed {args.seed}) in {args.store}: "
              f"{summary.contacts_added:,} added, {summary.contacts_updated:,} updated; "
              f"{summary.events_added + summary.events_duplicate:,} events, {summary.events_added:,} new, "
              f"{summary.events_duplicate:,} already stored ({loaded:.1f} s)\n", file=out)
        print(demo_report(store, shop.now), file=out, end="")
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()
    return 0


# --- the verbs on a store ------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, "StoreBase", TextIO], int]


def _on_store(args: argparse.Namespace, out: TextIO) -> int:
    """Open ``--store``, run the verb's handler on it, close it."""
    from .stores.url import open_store

    failures: tuple[type[BaseException], ...] = (EngagekitError, OSError, ImportError, *_database_errors())
    try:
        store = open_store(args.store, currency=args.currency)
    except failures as exc:
        raise CommandError(f"cannot open store {args.store!r}: {_one_line(exc)}") from exc
    handler: Handler = args.handler
    try:
        return handler(args, store, out)
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def _read_filter(text: str) -> Filter:
    """A FILTER argument: the JSON of ``Filter.to_json()``, ``@PATH`` or a path to a file holding it."""
    from .filters import Filter

    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    elif not text.lstrip().startswith("{") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    return Filter.from_json(text)


def _filter_or_id(text: str) -> Filter | str:
    """An ID_OR_FILTER argument: a filter (as :func:`_read_filter`) or else a segment id."""
    if text.startswith("@") or text.lstrip().startswith("{") or Path(text).is_file():
        return _read_filter(text)
    return text


def _json_value(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _print_json(data: object, out: TextIO) -> None:
    print(json.dumps(data, default=_json_value, ensure_ascii=False, indent=2), file=out)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO, left: int = 1) -> None:
    from .demo import _table as table

    print(table(headers, [["-" if c is None else str(c) for c in row] for row in rows], left=left), file=out)


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def run_import(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    from .io import (
        ENGAGEKIT_CONTACTS,
        ENGAGEKIT_EVENTS,
        SHOPIFY_CUSTOMERS,
        SHOPIFY_ORDERS,
        ImportRejected,
        import_contacts,
        import_events,
    )

    contacts = args.kind == "contacts"
    mappings = {"engagekit": (ENGAGEKIT_CONTACTS, ENGAGEKIT_EVENTS), "shopify": (SHOPIFY_CUSTOMERS, SHOPIFY_ORDERS)}
    mapping = mappings[args.mapping][0 if contacts else 1]
    importer = import_contacts if contacts else import_events
    try:
        with _progress(args, f"import {args.path}") as bar:
            report = importer(store, args.path, mapping, format=args.format,
                              on_invalid="skip" if args.skip_invalid else "raise", rejects=args.rejects,
                              on_chunk=lambda so_far: bar.update(so_far.rows))
    except ImportRejected as exc:
        report = exc.report
    totals = {"path": report.path, "format": report.format, "kind": report.kind, "rows": report.rows,
              "records": report.records, "added": report.added, "updated": report.updated,
              "duplicates": report.duplicates, "rejected": report.rejected, "chunks": report.chunks,
              "stored": report.ok or args.skip_invalid,
              "rejections": [str(r) for r in report.rejections]}
    if args.json:
        _print_json(totals, out)
    else:
        print(f"{report.path} ({report.format}): {report.rows:,} rows, {report.records:,} {args.kind}: "
              f"{report.added:,} added, {report.updated:,} updated, {report.duplicates:,} duplicates, "
              f"{report.rejected:,} rejected", file=out)
        for rejection in report.rejections[:20]:
            print(f"  {rejection}", file=out)
        if not report.ok and not args.skip_invalid:
            print("  the chunk holding rejected rows was not stored (--skip-invalid stores the valid ones)", file=out)
    return 0 if report.ok or args.skip_invalid else EXIT_ERROR


def run_export_members(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    from .io import DEFAULT_MEMBER_FIELDS, export_members

    fields = DEFAULT_MEMBER_FIELDS if args.fields is None else [f.strip() for f in args.fields.split(",") if f.strip()]
    with _progress(args, f"export {args.path}") as bar:
        rows = export_members(store, _filter_or_id(args.target), args.path, fields, at=args.at,
                              on_chunk=bar.update)
    return _report_written(args, rows, out)


def run_export_log(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    from .io import export_log

    with _progress(args, f"export {args.path}") as bar:
        rows = export_log(store, args.segment_id, args.path, on_chunk=bar.update)
    return _report_written(args, rows, out)


def _progress(args: argparse.Namespace, label: str) -> Progress:
    """Progress on stderr: with ``--progress``, or by default when stderr is a terminal and not ``--json``."""
    from .io.progress import Progress, isatty

    err: TextIO = getattr(args, "stderr", sys.stderr)
    wanted = args.progress if args.progress is not None else (not args.json and isatty(err))
    return Progress(label, err, enabled=wanted)


def _report_written(args: argparse.Namespace, rows: int, out: TextIO) -> int:
    if args.json:
        _print_json({"path": args.path, "rows": rows}, out)
    else:
        print(f"{rows:,} rows written to {args.path}", file=out)
    return 0


def run_dashboard(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    import attrs

    from .demo import dashboard_rows

    dash = store.engagement(at=args.at, timeframe=timedelta(days=args.timeframe_days), view=args.view)
    if args.json:
        _print_json({"view": dash.view, "timeframe_days": args.timeframe_days,
                     "groups": {state: attrs.asdict(group) for state, group in dash.groups.items()},
                     "flows": [{"from": frm, "to": to, "contacts": n} for (frm, to), n in dash.flows.items()]},
                    out)
        return 0
    print(f"Contacts, view {dash.view} (engaged: activity in the last {args.timeframe_days} days)\n", file=out)
    headers = ["view", "state", "contacts", "share", "30 d ago", "change", "change %"]
    _table(headers, dashboard_rows([dash]), out, left=2)
    return 0


def run_segment_create(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    segment = store.create_segment(_read_filter(args.filter), name=args.name)
    if args.json:
        _print_json(_segment_dict(segment, store, None), out)
    else:
        print(f"{segment.id}  {segment.name}", file=out)
    return 0


def _segment_dict(segment: Any, store: StoreBase, at: datetime | None) -> dict[str, Any]:
    """A segment as shown; ``member_count`` is its members at ``at`` (default: the store's clock), as
    ``segment members`` lists them, never the count a live engine last saved (stale once time moves)."""
    from .filters import in_segment

    moment = store._at(at)
    return {"id": segment.id, "name": segment.name, "active": segment.active,
            "filter": json.loads(segment.filter.to_json()), "description": segment.filter.describe(),
            "created_at": _when(segment.created_at), "updated_at": _when(segment.updated_at),
            "last_generated_at": _when(segment.last_generated_at),
            "member_count": store.count(in_segment(segment.id), at=moment), "member_count_at": _when(moment)}


def run_segment_list(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    at = store._at(args.at)  # one instant for every row
    rows = [_segment_dict(s, store, at) for s in store.segments()]
    if args.json:
        _print_json(rows, out)
    else:
        _table(["id", "name", "active", "members", "filter"],
               [[r["id"], r["name"], "yes" if r["active"] else "no", r["member_count"], r["description"]]
                for r in rows], out, left=3)
    return 0


def run_segment_show(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    data = _segment_dict(store.segment(args.segment_id), store, args.at)
    if args.json:
        _print_json(data, out)
    else:
        data["filter"] = json.dumps(data["filter"], ensure_ascii=False)
        width = max(len(k) for k in data)
        for key, value in data.items():
            print(f"{key.ljust(width)}  {'-' if value is None else value}", file=out)
    return 0


def run_segment_members(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    from .filters import in_segment

    ids = sorted(store.members(in_segment(args.segment_id), at=args.at))
    if args.json:
        _print_json(ids, out)
    else:
        for contact_id in ids:
            print(contact_id, file=out)
    return 0


def run_segment_log(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    entries = store.log(args.segment_id, since=args.since, until=args.until, contact_id=args.contact)
    rows = [{"at": _when(e.at), "contact_id": e.contact_id, "change": e.change, "late": e.late} for e in entries]
    if args.json:
        _print_json(rows, out)
    else:
        _table(["at", "contact", "change", "late"],
               [[r["at"], r["contact_id"], r["change"], "late" if r["late"] else ""] for r in rows], out, left=4)
    return 0


def run_segment_explain(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    explanation = store.explain(_filter_or_id(args.target), args.contact, at=args.at)
    if args.json:
        _print_json(_explanation_dict(explanation, args.lang), out)
    else:
        print(explanation.render(args.lang), file=out)
    return 0


def _explanation_dict(node: Explanation, lang: str) -> dict[str, Any]:
    data: dict[str, Any] = {"node": node.filter.node, "description": node.filter.describe(lang), "holds": node.holds}
    if node.window is not None:
        data["window"] = [_when(node.window[0]), _when(node.window[1])]
    for name in ("count", "matches", "total", "mean", "value", "state"):
        value = getattr(node, name)
        if value is not None:
            data[name] = value
    data["children"] = [_explanation_dict(child, lang) for child in node.children]
    return data


def run_segment_preview(args: argparse.Namespace, store: StoreBase, out: TextIO) -> int:
    result = store.preview(_read_filter(args.filter), against=_filter_or_id(args.against), at=args.at)
    if args.json:
        _print_json({"count": result.count, "entering": result.entering, "leaving": result.leaving,
                     "staying": result.staying, "examples": dict(result.examples)}, out)
    else:
        print(f"{result.count:,} members", file=out)
        _table(["change", "contacts", "examples"],
               [[name, f"{getattr(result, name):,}", ", ".join(result.examples.get(name, ()))]
                for name in ("entering", "leaving", "staying")], out)
    return 0


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; return the exit code (the console script ``engagekit``)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments
    try:
        try:
            args = build_parser().parse_args(arguments)
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else 0
        if args.command is None:
            raise UsageError("a command is required: demo, import, export, dashboard, segment or report "
                             "(see 'engagekit --help')")
        if args.command == "demo":
            return run_demo(args, out, err)
        args.stderr = err  # where progress is drawn
        return _on_store(args, out)
    except UsageError as exc:
        print(f"engagekit: error: {exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("engagekit: interrupted", file=err)
        return 130
    except Exception as exc:
        if debug:
            raise
        if isinstance(exc, (CommandError, EngagekitError, OSError, *_database_errors())):
            print(f"engagekit: error: {_one_line(exc)}", file=err)
        else:  # a bug: still one line, with a way to see more
            print(f"engagekit: internal error: {type(exc).__name__}: {_one_line(exc)} "
                  "(run with --debug for the traceback)", file=err)
        return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
