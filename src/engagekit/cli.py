"""The ``engagekit`` command line (``python -m engagekit`` too).

``engagekit demo [--store URL] [--contacts N] [--seed S]`` builds the demo shop in a store (by
default the SQLite file ``engagekit-demo.db`` in the current directory, so it can be reopened) and
prints the contacts dashboard and the seed segments. Re-running it on the same store is idempotent:
the demo's ids repeat, so every event is a duplicate the second time.

Errors are one line on stderr (``--debug`` shows the traceback): exit code 2 for a usage error,
1 for any other error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import NoReturn, TextIO

from .errors import EngagekitError

DEFAULT_STORE = "sqlite:engagekit-demo.db"
DEFAULT_CONTACTS = 2000
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
        description="Build the demo shop in a store and print the contacts dashboard and the seed segments.")
    demo.add_argument("--store", default=DEFAULT_STORE, metavar="URL",
                      help=f"memory, sqlite:PATH, duckdb:PATH or postgres:DSN (default: {DEFAULT_STORE})")
    demo.add_argument("--contacts", type=_positive, default=DEFAULT_CONTACTS, metavar="N",
                      help=f"number of contacts (default: {DEFAULT_CONTACTS}; ~20 events each)")
    demo.add_argument("--seed", type=_integer, default=0, metavar="S", help="random seed (default: 0)")
    demo.add_argument("--now", type=_instant, default=None, metavar="INSTANT",
                      help="end of the shop's history, ISO 8601 with an offset (default: 2026-06-30T12:00:00+00:00)")
    return parser


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
            raise UsageError("a command is required: demo (see 'engagekit --help')")
        return run_demo(args, out, err)
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
