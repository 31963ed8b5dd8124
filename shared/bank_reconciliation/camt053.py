"""Reading an ISO 20022 CAMT.053 bank-to-customer statement (any ``camt.053.001.xx``).

Pure: bytes in, :class:`ParsedStatement` out, or one 422. Elements are found by local
name, so every version of the namespace reads the same. Each booked entry (``Ntry``
with status ``BOOK``) becomes a line: ``Amt`` with its ``Ccy``, ``CdtDbtInd`` for the
sign, ``BookgDt`` (else ``ValDt``) and ``ValDt``, ``AcctSvcrRef`` as the reference,
the first ``EndToEndId`` of its details, and the remittance texts (``RmtInf/Ustrd``,
structured creditor references, else ``AddtlNtryInf``) as the description. Entries
not booked (pending, information) are counted as skipped. A problem names the entry
as ``entries.<n>.<field>``, ``n`` counting the file's ``Ntry`` elements from 1;
a file that is not such a statement at all is refused on ``content``.

The XML is parsed with expat directly and any document type declaration is refused:
without one no entity can be declared, so neither entity expansion ("billion laughs")
nor external entities or DTD retrieval can happen. A CAMT.053 file never has one.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from shared.bank_reconciliation.model import ParsedLine, ParsedStatement
from shared.bank_reconciliation.rules import MAX_LINES, amount_minor, clean_text
from shared.errors import FieldError, ValidationError

MAX_DEPTH = 64
# Amt is an unsigned decimal with a point (CdtDbtInd carries the sign).
_PLAIN_AMOUNT = re.compile(r"^[0-9]{1,30}(\.[0-9]{1,10})?$")
MAX_ERRORS = 20


class UnsafeXmlError(Exception):
    """The document declares a DTD or entities; never parsed further."""


@dataclass(slots=True)
class Node:
    """An element: local name, attributes (by local name), text, children."""

    name: str
    attributes: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def child(self, *path: str) -> Node | None:
        node: Node | None = self
        for name in path:
            assert node is not None
            node = next((c for c in node.children if c.name == name), None)
            if node is None:
                return None
        return node

    def children_named(self, name: str) -> list[Node]:
        return [c for c in self.children if c.name == name]

    def descendants(self, name: str) -> list[Node]:
        found: list[Node] = []
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            if node.name == name:
                found.append(node)
            stack.extend(reversed(node.children))
        return found

    def text_of(self, *path: str) -> str:
        node = self.child(*path)
        return node.text if node is not None else ""


def _local(name: str) -> str:
    return name.rsplit(" ", 1)[-1]


def parse_xml(content: bytes) -> Node:
    """The element tree of ``content``; raises UnsafeXmlError or expat's ExpatError."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[Node] = []
    stack: list[Node] = []

    def refuse(*_: object) -> None:
        raise UnsafeXmlError("a document type declaration is not accepted")

    def start(name: str, attributes: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise UnsafeXmlError(f"elements nest deeper than {MAX_DEPTH}")
        node = Node(_local(name), {_local(k): v for k, v in attributes.items()})
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(_: str) -> None:
        stack.pop()

    def data(text: str) -> None:
        if stack:
            stack[-1].parts.append(text)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.Parse(content, True)
    return root[0]


def _unreadable(message: str, code: str = "unreadable_xml") -> ValidationError:
    return ValidationError.for_field("content", message, code)


def _date(node: Node | None) -> date | None:
    """``Dt`` (a date) or ``DtTm`` (a date and time: its date) under ``node``."""
    if node is None:
        return None
    text = node.text_of("Dt") or node.text_of("DtTm")[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_camt053(content: bytes, currency: str) -> ParsedStatement:
    """The statement the file holds, in ``currency`` (the account's)."""
    try:
        document = parse_xml(content)
    except UnsafeXmlError as exc:
        raise _unreadable(str(exc), "unsafe_xml") from None
    except xml.parsers.expat.ExpatError as exc:
        raise _unreadable(f"not well-formed XML: {exc}") from None
    statements = (
        document.child("BkToCstmrStmt").children_named("Stmt")  # type: ignore[union-attr]
        if document.name == "Document" and document.child("BkToCstmrStmt") is not None
        else None
    )
    if statements is None:
        raise _unreadable("not a CAMT.053 statement (Document/BkToCstmrStmt)", "not_camt053")
    if len(statements) != 1:
        raise _unreadable(
            f"the file holds {len(statements)} statements; import exactly one per account",
            "statement_count",
        )
    return _statement(statements[0], currency)


def _statement(statement: Node, currency: str) -> ParsedStatement:
    errors: list[FieldError] = []

    def problem(where: str, message: str, code: str) -> None:
        if len(errors) < MAX_ERRORS:
            errors.append(FieldError(where, message, code))

    account_currency = statement.text_of("Acct", "Ccy")
    if account_currency and account_currency != currency:
        problem(
            "content.Acct.Ccy",
            f"the statement's account is kept in {account_currency}, the ledger account in "
            f"{currency}",
            "currency_mismatch",
        )
    lines: list[ParsedLine] = []
    skipped = 0
    entries = statement.children_named("Ntry")
    if len(entries) > MAX_LINES:
        raise ValidationError.for_field(
            "content", f"a statement holds at most {MAX_LINES} lines", "too_many_lines"
        )
    for number, entry in enumerate(entries, start=1):
        status = entry.text_of("Sts", "Cd") or entry.text_of("Sts")
        if status and status != "BOOK":
            skipped += 1
            continue
        line = _entry(entry, number, currency, problem)
        if line is not None:
            lines.append(line)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValidationError(f"{first.field}: {first.message}{more}", errors=errors)
    if not lines:
        raise _unreadable("the statement holds no booked entries", "no_lines")
    dates = [line.booking_date for line in lines]
    period = statement.child("FrToDt")
    start = _date_of(period, "FrDtTm")
    end = _date_of(period, "ToDtTm")
    return ParsedStatement(
        tuple(lines),
        min([*dates, *([start] if start else [])]),
        max([*dates, *([end] if end else [])]),
        bank_reference=clean_text(statement.text_of("Id")),
        skipped=skipped,
    )


def _date_of(period: Node | None, name: str) -> date | None:
    if period is None:
        return None
    try:
        return date.fromisoformat(period.text_of(name)[:10])
    except ValueError:
        return None


def _entry(
    entry: Node, number: int, currency: str, problem: Callable[[str, str, str], None]
) -> ParsedLine | None:
    where = f"entries.{number}"
    failed = False
    amount_node = entry.child("Amt")
    indicator = entry.text_of("CdtDbtInd")
    minor: int | None = None
    if amount_node is None or not amount_node.text:
        problem(f"{where}.amount", "the entry has no Amt", "missing_amount")
        failed = True
    elif amount_node.attributes.get("Ccy") != currency:
        problem(
            f"{where}.amount",
            f"the account is kept in {currency}, the entry is in "
            f"{amount_node.attributes.get('Ccy')!r}",
            "currency_mismatch",
        )
        failed = True
    elif not _PLAIN_AMOUNT.match(amount_node.text):
        problem(
            f"{where}.amount",
            f"Amt must be an unsigned decimal such as 12.50, not {amount_node.text[:40]!r}",
            "invalid_amount",
        )
        failed = True
    else:
        try:
            minor = amount_minor(amount_node.text, currency, f"{where}.amount")
        except ValidationError as exc:
            for error in exc.errors:
                problem(error.field, error.message, error.code)
            failed = True
    if indicator not in ("CRDT", "DBIT"):
        problem(f"{where}.credit_debit", "CdtDbtInd must be CRDT or DBIT", "invalid_indicator")
        failed = True
    value_date = _date(entry.child("ValDt"))
    booking = _date(entry.child("BookgDt")) or value_date
    if booking is None:
        problem(
            f"{where}.booking_date", "the entry has no readable BookgDt or ValDt", "invalid_date"
        )
        failed = True
    if failed or minor is None or booking is None:
        return None
    details = entry.descendants("TxDtls")
    end_to_end = next(
        (d.text_of("Refs", "EndToEndId") for d in details if d.text_of("Refs", "EndToEndId")), ""
    )
    reference = entry.text_of("AcctSvcrRef") or next(
        (d.text_of("Refs", "AcctSvcrRef") for d in details if d.text_of("Refs", "AcctSvcrRef")),
        "",
    )
    texts = [n.text for n in entry.descendants("Ustrd") if n.text]
    texts += [r.text for c in entry.descendants("CdtrRefInf") for r in c.children_named("Ref")]
    if not texts and entry.text_of("AddtlNtryInf"):
        texts.append(entry.text_of("AddtlNtryInf"))
    return ParsedLine(
        number=number,
        booking_date=booking,
        value_date=value_date,
        amount_minor=minor if indicator == "CRDT" else -minor,
        reference=clean_text(reference),
        end_to_end_id="" if end_to_end == "NOTPROVIDED" else clean_text(end_to_end),
        description=clean_text(" ".join(texts)),
    )
