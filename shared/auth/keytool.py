"""Produce the values of the two token-key secrets (run by an operator, never by a function).

    python -m shared.auth.keytool new > signing.json           # a first signing key set
    python -m shared.auth.keytool rotate < signing.json > next.json
    python -m shared.auth.keytool public < next.json > verification.json

Add ``next.json`` as a new version of ``jwt-signing-keys`` and ``verification.json`` as
a new version of ``jwt-verification-keys``; deploy the verification version first, so
every verifier knows the new key before ``auth`` signs with it. ``rotate`` retires the
signing key (it keeps verifying for the overlap window) and drops keys past it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from shared.auth.keys import KeySet, KeySetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.auth.keytool", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("new", help="print a new signing key set")
    rotate = commands.add_parser("rotate", help="read a signing key set, print it rotated")
    rotate.add_argument(
        "--overlap-seconds",
        type=int,
        default=86_400,
        help="how long retired keys keep verifying (TRIBUTUM_AUTH__KEY_OVERLAP_SECONDS)",
    )
    commands.add_parser("public", help="read a signing key set, print its verification keys")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    try:
        if args.command == "new":
            print(KeySet.generate(now).to_secret())
        elif args.command == "rotate":
            current = KeySet.from_secret(sys.stdin.read())
            overlap = timedelta(seconds=args.overlap_seconds)
            print(current.without_expired(now, overlap).rotated(now).to_secret())
        else:
            print(KeySet.from_secret(sys.stdin.read()).public().to_secret())
    except KeySetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
