"""Reading a CSV bank statement with the column mapping the request gives.

Pure: text in, :class:`ParsedStatement` out, or one 422 listing what is wrong. A
problem in the file names its row as ``rows.<line>.<column>``, where ``<line>`` is the
line of the file the row ends on (1 is the first line, the header if there is one), so
it can be found in any editor. At most :data:`MAX_ERRORS` problems are listed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from shared.bank_reconciliation.model import ParsedLine, ParsedStatement
from shared.bank_reconciliation.requests import CsvMapping, DateFormat
from shared.bank_reconciliation.rules import MAX_LINES, amount_minor, clean_text
from shared.errors import FieldError, ValidationError

MAX_ERRORS = 20
_STRPTIME = {
    DateFormat.ISO: "%Y-%m-%d",
    DateFormat.DAY_MONTH_YEAR_DOTS: "%d.%m.%Y",
    DateFormat.DAY_MONTH_YEAR_SLASHES: "%d/%m/%Y",
    DateFormat.DAY_MONTH_YEAR_DASHES: "%d-%m-%Y",
    DateFormat.MONTH_DAY_YEAR_SLASHES: "%m/%d/%Y",
    DateFormat.COMPACT: "%Y%m%d",
}
_FIELDS = (
    "date",
    "value_date",
    "amount",
    "debit",
    "credit",
    "reference",
    "description",
    "currency",
)


class _Problems:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str, code: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(FieldError(field, message, code))

    def raise_any(self) -> None:
        if self.errors:
            first = self.errors[0]
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise ValidationError(f"{first.field}: {first.message}{more}", errors=self.errors)


def check_mapping(mapping: CsvMapping) -> None:
    """The mapping's own sense, before the file is read."""
    columns = mapping.columns
    problems = _Problems()
    has_amount = columns.amount is not None
    has_debit, has_credit = columns.debit is not None, columns.credit is not None
    if has_amount and (has_debit or has_credit):
        problems.add(
            "csv.columns.amount",
            "name either an amount column or a debit and a credit column, not both",
            "amount_columns_conflict",
        )
    elif not has_amount and not (has_debit and has_credit):
        problems.add(
            "csv.columns.amount",
            "name an amount column, or both a debit and a credit column",
            "amount_column_missing",
        )
    if mapping.thousands_separator == mapping.decimal_separator:
        problems.add(
            "csv.thousands_separator",
            "must differ from the decimal separator",
            "separators_clash",
        )
    if not mapping.has_header and mapping.delimiter in (
        mapping.decimal_separator,
        mapping.thousands_separator,
    ):
        # An unquoted "12,50" is two cells. With a header, a row wider than it is refused
        # (``extra_columns``); without one, nothing would show that a value was split.
        problems.add(
            "csv.delimiter",
            "without a header row, must differ from the decimal and thousands separators",
            "separators_clash",
        )
    if not mapping.has_header:
        for name in _FIELDS:
            if isinstance(getattr(columns, name), str):
                problems.add(
                    f"csv.columns.{name}",
                    "without a header row, name columns by position (1 is the first)",
                    "column_by_name_without_header",
                )
    problems.raise_any()


def _amount_pattern(mapping: CsvMapping) -> re.Pattern[str]:
    decimal = re.escape(mapping.decimal_separator)
    plain = rf"[0-9]+(?:{decimal}[0-9]+)?"
    if not mapping.thousands_separator:
        return re.compile(rf"^[+-]?{plain}$")
    thousands = re.escape(mapping.thousands_separator)
    grouped = rf"[0-9]{{1,3}}(?:{thousands}[0-9]{{3}})+(?:{decimal}[0-9]+)?"
    return re.compile(rf"^[+-]?(?:{grouped}|{plain})$")


def _plain_amount(cell: str, mapping: CsvMapping, pattern: re.Pattern[str]) -> str | None:
    """The cell as a plain decimal string (``-1234.56``), None when it is not an amount."""
    text = cell.strip().replace("\u00a0", " ")
    if mapping.thousands_separator != " ":
        text = text.replace(" ", "")
    if not pattern.match(text):
        return None
    if mapping.thousands_separator:
        text = text.replace(mapping.thousands_separator, "")
    return text.replace(mapping.decimal_separator, ".")


def _decode(content: bytes, mapping: CsvMapping) -> str:
    encoding = "utf-8-sig" if mapping.encoding == "utf-8" else mapping.encoding
    try:
        return content.decode(encoding)
    except UnicodeDecodeError:
        raise ValidationError.for_field(
            "content", f"the file is not valid {mapping.encoding}", "bad_encoding"
        ) from None


def _resolve(mapping: CsvMapping, header: Sequence[str], problems: _Problems) -> dict[str, int]:
    """Each mapped field's column index (from 0)."""
    names: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        names.setdefault(name.strip(), []).append(index)
    resolved: dict[str, int] = {}
    for field in _FIELDS:
        ref = getattr(mapping.columns, field)
        if ref is None:
            continue
        if isinstance(ref, int):
            if header and ref > len(header):
                problems.add(
                    f"csv.columns.{field}",
                    f"column {ref} is beyond the header's {len(header)} columns",
                    "unknown_column",
                )
            resolved[field] = ref - 1
            continue
        found = names.get(ref.strip(), [])
        if not found:
            problems.add(f"csv.columns.{field}", f"no column named {ref!r}", "unknown_column")
        elif len(found) > 1:
            problems.add(
                f"csv.columns.{field}",
                f"{len(found)} columns are named {ref!r}",
                "ambiguous_column",
            )
        else:
            resolved[field] = found[0]
    return resolved


_DATE_CHARACTERS = re.compile(r"^[0-9./-]+$")


def _date(text: str, mapping: CsvMapping) -> date | None:
    if not _DATE_CHARACTERS.match(text.strip()):
        return None  # strptime would read other scripts' digits too
    try:
        layout = _STRPTIME[mapping.date_format]
        return datetime.strptime(text.strip(), layout).replace(tzinfo=UTC).date()
    except ValueError:
        return None


def parse_csv(content: bytes, mapping: CsvMapping, currency: str) -> ParsedStatement:
    """The statement the file holds, in ``currency`` (the account's)."""
    check_mapping(mapping)
    text = _decode(content, mapping)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter, strict=True)
    problems = _Problems()
    pattern = _amount_pattern(mapping)
    lines: list[ParsedLine] = []
    columns: dict[str, int] | None = None
    width: int | None = None  # the header's number of columns
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                if mapping.has_header:
                    columns = _resolve(mapping, row, problems)
                    problems.raise_any()
                    width = len(row)
                    continue
                columns = _resolve(mapping, [], problems)
            if len(lines) >= MAX_LINES:
                raise ValidationError.for_field(
                    f"rows.{number}",
                    f"a statement holds at most {MAX_LINES} lines",
                    "too_many_lines",
                )
            if width is not None and len(row) > width:
                # A cell more than the header: a separator inside an unquoted value.
                problems.add(
                    f"rows.{number}",
                    f"the row has {len(row)} columns, the header {width}",
                    "extra_columns",
                )
                continue
            line = _row(row, number, columns, mapping, pattern, currency, problems)
            if line is not None:
                lines.append(line)
    except csv.Error as exc:
        raise ValidationError.for_field(
            f"rows.{reader.line_num}", f"not readable as CSV: {exc}", "malformed_csv"
        ) from None
    problems.raise_any()
    if not lines:
        raise ValidationError.for_field("content", "the file holds no statement lines", "no_lines")
    dates = [line.booking_date for line in lines]
    return ParsedStatement(tuple(lines), min(dates), max(dates))


def _row(
    row: Sequence[str],
    number: int,
    columns: dict[str, int],
    mapping: CsvMapping,
    pattern: re.Pattern[str],
    currency: str,
    problems: _Problems,
) -> ParsedLine | None:
    before = len(problems.errors)
    missing = [f for f, index in columns.items() if index >= len(row)]
    if missing:
        problems.add(
            f"rows.{number}",
            f"the row has {len(row)} columns; {', '.join(missing)} is beyond them",
            "missing_columns",
        )
        return None

    def cell(field: str) -> str:
        return row[columns[field]].strip() if field in columns else ""

    booking = _date(cell("date"), mapping)
    if booking is None:
        problems.add(
            f"rows.{number}.date",
            f"{cell('date')!r} is not a date in the form {mapping.date_format.value}",
            "invalid_date",
        )
    value_date: date | None = None
    if cell("value_date"):
        value_date = _date(cell("value_date"), mapping)
        if value_date is None:
            problems.add(
                f"rows.{number}.value_date",
                f"{cell('value_date')!r} is not a date in the form {mapping.date_format.value}",
                "invalid_date",
            )
    if "currency" in columns and cell("currency").upper() != currency:
        problems.add(
            f"rows.{number}.currency",
            f"the account is kept in {currency}, the row says {cell('currency')!r}",
            "currency_mismatch",
        )
    minor = _row_amount(number, cell, mapping, pattern, currency, problems)
    if len(problems.errors) > before or booking is None or minor is None:
        return None
    return ParsedLine(
        number=number,
        booking_date=booking,
        value_date=value_date,
        amount_minor=minor,
        reference=clean_text(cell("reference")),
        description=clean_text(cell("description")),
    )


def _row_amount(
    number: int,
    cell: Callable[[str], str],
    mapping: CsvMapping,
    pattern: re.Pattern[str],
    currency: str,
    problems: _Problems,
) -> int | None:
    def parsed(field: str) -> int | None:
        raw = cell(field)
        plain = _plain_amount(raw, mapping, pattern)
        if plain is None:
            problems.add(
                f"rows.{number}.{field}",
                f"{raw!r} is not an amount with {mapping.decimal_separator!r} as decimal separator"
                + (
                    f" and {mapping.thousands_separator!r} between thousands"
                    if mapping.thousands_separator
                    else ""
                ),
                "invalid_amount",
            )
            return None
        try:
            return amount_minor(plain, currency, f"rows.{number}.{field}")
        except ValidationError as exc:
            for error in exc.errors:
                problems.add(error.field, error.message, error.code)
            return None

    if mapping.columns.amount is not None:
        return parsed("amount")
    debit, credit = cell("debit"), cell("credit")
    if bool(debit) == bool(credit):
        problems.add(
            f"rows.{number}.amount",
            "exactly one of the debit and credit columns must hold an amount",
            "debit_or_credit",
        )
        return None
    if debit:
        value = parsed("debit")
        # Some banks write debits with a minus sign, some without: both are money out.
        return None if value is None else -abs(value)
    value = parsed("credit")
    if value is not None and value < 0:
        problems.add(f"rows.{number}.credit", "a credit is not negative", "negative_credit")
        return None
    return value
