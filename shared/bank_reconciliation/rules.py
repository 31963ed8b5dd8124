"""Bank reconciliation without I/O: ids, limits, statuses, amounts, dates, text.

A statement line's amount is signed from the account holder's side, as the bank
shows it: positive for a credit (money in), negative for a debit (money out). The
ledger account the statement mirrors is moved the other way round by the same money:
money in is a *debit* of the bank account in the books (an asset grows by a debit;
a liability such as a card account shrinks by one). So a line matches entries whose
lines on that account net ``debits - credits`` to exactly the line's amount, in
minor units.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from shared.errors import ValidationError
from shared.money import MoneyError, minor_unit, to_minor_units
from shared.text import FORBIDDEN_CHARACTERS

TOPIC = "bank-statement-events"
IMPORTED_TYPE = "bank_statement.imported"
EVENT_SOURCE = "tributum/bank-reconciliation"
RESOURCE = "bank_statement"

STATEMENT_ID_PATTERN = r"^bst_[0-9a-f]{32}$"
LINE_ID_PATTERN = r"^r[0-9]{6}$"

# The file as sent (decoded): a month of a busy account fits; a bigger file is split.
MAX_CONTENT_BYTES = 512 * 1024
# Lines of one statement: each becomes a document, and matching holds them in memory.
MAX_LINES = 2000
DEFAULT_DATE_WINDOW_DAYS = 3
MAX_DATE_WINDOW_DAYS = 31
# One-to-many: a line may be the sum of at most this many entries, chosen among the
# nearest candidates in date; the search is bounded so one line costs at most
# C(12, 2) + C(12, 3) + C(12, 4) = 781 sums.
MAX_GROUP_SIZE = 4
MAX_GROUP_CANDIDATES = 12
# Stored texts are one line each, at most this long (bank texts can run long).
MAX_TEXT = 500
# The biggest amount one line may carry, in minor units (as the ledger's cap per line).
MAX_AMOUNT_MINOR = 10**15


class StatementStatus(StrEnum):
    """``importing`` while lines are written, ``matching`` until the automatic matching
    ran, ``matched`` after it (lines may still be unmatched), ``reconciled`` once an
    accountant closed it with every line matched."""

    IMPORTING = "importing"
    MATCHING = "matching"
    MATCHED = "matched"
    RECONCILED = "reconciled"


class LineStatus(StrEnum):
    UNMATCHED = "unmatched"
    MATCHED = "matched"


class MatchRule(StrEnum):
    """Why a line is matched: the rule that found its entries, or an accountant."""

    REFERENCE = "reference"  # amount, date window, and the reference in the entry's text
    AMOUNT_DATE = "amount_date"  # amount and date window, nearest date first
    MANY = "many"  # several entries summing to the amount, within the window
    MANUAL = "manual"


class StatementFormat(StrEnum):
    CSV = "csv"
    CAMT053 = "camt053"


def statement_id(account_id: str, content: bytes) -> str:
    """The id of a file imported for an account: the same file twice is one statement."""
    digest = hashlib.sha256(account_id.encode() + b"\n" + content).hexdigest()
    return f"bst_{digest[:32]}"


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def line_id(number: int) -> str:
    return f"r{number:06d}"


_UNSAFE_TEXT = re.compile(rf"[{FORBIDDEN_CHARACTERS}]+")


def clean_text(value: str | None) -> str:
    """A bank's text as one safe line: control and direction characters become spaces,
    runs of spaces one, at most :data:`MAX_TEXT` characters."""
    if not value:
        return ""
    return " ".join(_UNSAFE_TEXT.sub(" ", value).split())[:MAX_TEXT]


def amount_minor(text: str, currency: str, field: str) -> int:
    """A plain decimal string (``"-12.50"``) as signed minor units; 422 on ``field``."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _amount_error(field, f"{text!r} is not a decimal amount", "invalid_amount") from None
    if not amount.is_finite():
        raise _amount_error(field, f"{text!r} is not a decimal amount", "invalid_amount")
    places = minor_unit(currency)
    exponent = amount.as_tuple().exponent
    # More digits than the currency has are refused even when they are zeros: "1.000"
    # is as likely a thousand written with a thousands separator as one euro.
    if isinstance(exponent, int) and -exponent > places:
        raise _amount_error(
            field, f"{currency} has {places} decimal places, {text!r} has more", "too_many_decimals"
        )
    try:
        minor = to_minor_units(amount, currency)
    except MoneyError:
        raise _amount_error(
            field, f"{currency} has {places} decimal places, {text!r} has more", "too_many_decimals"
        ) from None
    if minor == 0:
        raise _amount_error(field, "a statement line moves money: zero is refused", "amount_zero")
    if abs(minor) > MAX_AMOUNT_MINOR:
        raise _amount_error(
            field, "the amount is beyond what one line may carry", "amount_too_large"
        )
    return minor


def _amount_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError.for_field(field, message, code)


def within_window(entry_date: date, line_date: date, days: int) -> bool:
    return abs((entry_date - line_date).days) <= days


def window(start: date, end: date, days: int) -> tuple[date, date]:
    """The dates an entry may carry to match a line dated from ``start`` to ``end``
    (within the calendar: a statement may be dated on its first or last day)."""
    low = start - timedelta(days=days) if start - date.min > timedelta(days=days) else date.min
    high = end + timedelta(days=days) if date.max - end > timedelta(days=days) else date.max
    return low, high


_REFERENCE_PLACEHOLDERS = frozenset({"NOTPROVIDED", "NONREF", "NONE", "N/A"})


def usable_reference(reference: str) -> bool:
    """A reference worth searching for: not a placeholder banks write for "none", and
    long enough not to turn up by chance in any text."""
    return len(reference) >= 3 and reference.upper() not in _REFERENCE_PLACEHOLDERS


def mentions(text: str, reference: str) -> bool:
    """Whether ``text`` contains ``reference``, ignoring case and spacing."""
    squeeze = "".join(reference.split()).casefold()
    return bool(squeeze) and squeeze in "".join(text.split()).casefold()
