"""The rate catalog: jurisdictions, their taxes, categories and dated rates.

Built once from plain lists (a seed file today, Firestore documents later) and
validated on construction, so that every lookup afterwards is a dictionary
access. Construction refuses, with a :class:`shared.errors.ValidationError`
naming the offending entry (``rates.3.valid_from``): malformed codes,
duplicates, references to unknown jurisdictions/taxes/categories, rates on
zero-rated or exempt categories, empty sources, and two rates of the same
jurisdiction + tax + category whose [valid_from, valid_to) intervals overlap,
unknown time zones, taxes whose in-force period is empty, and rates outside
the period of their tax.

A catalog is immutable and safe to share between threads.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import date
from itertools import pairwise
from zoneinfo import ZoneInfo

from shared.tax.model import (
    CATEGORY_CODE,
    JURISDICTION_CODE,
    TAX_CODE,
    Jurisdiction,
    TaxCategory,
    TaxDefinition,
    TaxRate,
    format_percent,
    invalid,
    refused,
)
from shared.tax.rate_checks import check_category_threshold, check_rate_terms

_MAX_PERCENT = 100


class RateCatalog:
    """Lookups by jurisdiction, tax, category and date; every miss is a clear 422."""

    def __init__(
        self,
        jurisdictions: Iterable[Jurisdiction],
        taxes: Iterable[TaxDefinition],
        categories: Iterable[TaxCategory],
        rates: Iterable[TaxRate],
    ) -> None:
        self._jurisdictions = _index_jurisdictions(list(jurisdictions))
        self._taxes = _index_taxes(list(taxes), self._jurisdictions)
        self._categories = _index_categories(list(categories), self._taxes)
        self._rates = _index_rates(list(rates), self._categories, self._taxes)
        self._taxes_by_jurisdiction: dict[str, list[TaxDefinition]] = {}
        for tax in self._taxes.values():
            self._taxes_by_jurisdiction.setdefault(tax.jurisdiction, []).append(tax)

    # -- jurisdictions and taxes -------------------------------------------------

    @property
    def jurisdictions(self) -> tuple[Jurisdiction, ...]:
        return tuple(self._jurisdictions.values())

    @property
    def rates(self) -> tuple[TaxRate, ...]:
        return tuple(rate for history in self._rates.values() for rate in history)

    def jurisdiction(self, code: str, *, field: str = "jurisdiction") -> Jurisdiction:
        found = self._jurisdictions.get(code)
        if found is None:
            raise invalid(field, f"unknown jurisdiction {code!r}", "unknown_jurisdiction")
        return found

    def chain(self, code: str, *, field: str = "jurisdiction") -> tuple[Jurisdiction, ...]:
        """The jurisdiction and the enclosing ones the catalog knows, outermost first."""
        place = self.jurisdiction(code, field=field)
        parents = [self._jurisdictions[p] for p in place.parent_codes if p in self._jurisdictions]
        return (*parents, place)

    def taxes_at(
        self, code: str, *, on: date | None = None, field: str = "jurisdiction"
    ) -> tuple[TaxDefinition, ...]:
        """Every tax levied at a place, in levy order, minus the ones replaced there.

        With ``on``, only the taxes in force that day, and only those replace
        others: BC's HST replaced GST and PST from 2010-07-01 to 2013-03-31.
        Withholding taxes are never levied by themselves (see
        :meth:`withholding_taxes_at`).
        """
        chain = self.chain(code, field=field)
        levied = [
            tax
            for tax in self._taxes_of(chain)
            if not tax.withholding and (on is None or tax.in_force_on(on))
        ]
        replaced = {key for tax in levied for key in tax.replaces}
        depth = {place.code: i for i, place in enumerate(chain)}
        kept = [tax for tax in levied if tax.key not in replaced]
        return tuple(sorted(kept, key=lambda t: (t.order, depth[t.jurisdiction], t.code)))

    def taxes_introduced_after(
        self, code: str, on: date, *, field: str = "jurisdiction"
    ) -> tuple[TaxDefinition, ...]:
        """The place's taxes (not withholding) that did not yet exist on ``on``."""
        chain = self.chain(code, field=field)
        return tuple(
            tax
            for tax in self._taxes_of(chain)
            if not tax.withholding and tax.in_force_from is not None and on < tax.in_force_from
        )

    def withholding_taxes_at(
        self, code: str, on: date, *, field: str = "jurisdiction"
    ) -> tuple[TaxDefinition, ...]:
        """The withholding taxes of a place and its enclosing jurisdictions in force on ``on``."""
        chain = self.chain(code, field=field)
        return tuple(
            tax for tax in self._taxes_of(chain) if tax.withholding and tax.in_force_on(on)
        )

    def time_zone_at(self, code: str, *, field: str = "jurisdiction") -> ZoneInfo | None:
        """The time zone of a place, or of the nearest enclosing jurisdiction that has one."""
        for place in reversed(self.chain(code, field=field)):
            if place.time_zone is not None:
                return ZoneInfo(place.time_zone)
        return None

    def _taxes_of(self, chain: Sequence[Jurisdiction]) -> list[TaxDefinition]:
        return [tax for place in chain for tax in self._taxes_by_jurisdiction.get(place.code, ())]

    def tax(self, jurisdiction: str, code: str, *, field: str = "tax") -> TaxDefinition:
        found = self._taxes.get((jurisdiction, code))
        if found is None:
            raise invalid(field, f"{jurisdiction} levies no tax {code!r}", "unknown_tax")
        return found

    # -- categories and rates --------------------------------------------------

    def category(
        self, jurisdiction: str, tax: str, code: str, *, field: str = "category"
    ) -> TaxCategory:
        found = self._categories.get((jurisdiction, tax, code))
        if found is None:
            known = sorted(c for (j, t, c) in self._categories if (j, t) == (jurisdiction, tax))
            raise invalid(
                field,
                f"unknown tax category {code!r} for {jurisdiction} {tax}"
                f" (known: {', '.join(known) or 'none'})",
                "unknown_tax_category",
            )
        return found

    def taxes_levied_by(self, code: str) -> tuple[TaxDefinition, ...]:
        """The taxes of exactly this jurisdiction, at any date (not withholding ones)."""
        return tuple(t for t in self._taxes_by_jurisdiction.get(code, ()) if not t.withholding)

    def has_category(self, jurisdiction: str, tax: str, code: str) -> bool:
        """Whether the tax lists the category: a selective tax skips lines of others."""
        return (jurisdiction, tax, code) in self._categories

    def rate(
        self, jurisdiction: str, tax: str, category: str, on: date, *, field: str = "category"
    ) -> TaxRate:
        """The rate in force on ``on``: a document dated on a change uses the new rate."""
        self.category(jurisdiction, tax, category, field=field)
        history = self._rates.get((jurisdiction, tax, category), [])
        position = bisect_right([r.valid_from for r in history], on) - 1
        if position >= 0 and history[position].in_force_on(on):
            return history[position]
        raise refused(
            field,
            f"no {jurisdiction} {tax} rate for category {category!r} in force on {on.isoformat()}",
            "no_rate_in_force",
        )


def _index_jurisdictions(entries: Sequence[Jurisdiction]) -> dict[str, Jurisdiction]:
    indexed: dict[str, Jurisdiction] = {}
    for i, entry in enumerate(entries):
        if not JURISDICTION_CODE.match(entry.code):
            raise invalid(
                f"jurisdictions.{i}.code",
                f"{entry.code!r} is not a jurisdiction code such as DE, US-CA or US-CA/SF",
                "invalid_jurisdiction_code",
            )
        if entry.code in indexed:
            raise invalid(
                f"jurisdictions.{i}.code",
                f"jurisdiction {entry.code} is listed twice",
                "duplicate_jurisdiction",
            )
        if entry.time_zone is not None and not _is_time_zone(entry.time_zone):
            raise invalid(
                f"jurisdictions.{i}.time_zone",
                f"{entry.time_zone!r} is not an IANA time zone such as Europe/Berlin",
                "unknown_time_zone",
            )
        indexed[entry.code] = entry
    return indexed


def _is_time_zone(key: str) -> bool:
    try:
        ZoneInfo(key)
    except (ValueError, KeyError, OSError):  # malformed key, unknown zone, a folder's name
        return False
    return True


def _index_taxes(
    entries: Sequence[TaxDefinition], jurisdictions: dict[str, Jurisdiction]
) -> dict[tuple[str, str], TaxDefinition]:
    indexed: dict[tuple[str, str], TaxDefinition] = {}
    for i, tax in enumerate(entries):
        if tax.jurisdiction not in jurisdictions:
            raise invalid(
                f"taxes.{i}.jurisdiction",
                f"unknown jurisdiction {tax.jurisdiction!r}",
                "unknown_jurisdiction",
            )
        if not TAX_CODE.match(tax.code):
            raise invalid(
                f"taxes.{i}.code", f"{tax.code!r} is not a tax code such as VAT", "invalid_tax_code"
            )
        if (tax.jurisdiction, tax.code) in indexed:
            raise invalid(f"taxes.{i}.code", f"{tax.key} is listed twice", "duplicate_tax")
        indexed[(tax.jurisdiction, tax.code)] = tax
    for i, tax in enumerate(entries):
        # A tax may stand in for taxes of enclosing jurisdictions or, while it is in force,
        # for another tax of its own (BC's HST for BC's PST).
        owners = {*jurisdictions[tax.jurisdiction].parent_codes, tax.jurisdiction}
        for key in tax.replaces:
            owner, _, code = key.partition(":")
            if owner not in owners or (owner, code) not in indexed or key == tax.key:
                raise invalid(
                    f"taxes.{i}.replaces",
                    f"{tax.key} replaces {key!r}, which is no other tax of this or an "
                    "enclosing jurisdiction",
                    "unknown_replaced_tax",
                )
            if tax.withholding or indexed[(owner, code)].withholding:
                raise invalid(
                    f"taxes.{i}.replaces",
                    f"{tax.key} replaces {key!r}: withholding taxes neither replace nor are "
                    "replaced",
                    "unknown_replaced_tax",
                )
        if (
            tax.in_force_from is not None
            and tax.in_force_to is not None
            and tax.in_force_to <= tax.in_force_from
        ):
            raise invalid(
                f"taxes.{i}.in_force_to",
                "in_force_to must be after in_force_from",
                "invalid_interval",
            )
    return indexed


def _index_categories(
    entries: Sequence[TaxCategory], taxes: dict[tuple[str, str], TaxDefinition]
) -> dict[tuple[str, str, str], TaxCategory]:
    indexed: dict[tuple[str, str, str], TaxCategory] = {}
    for i, category in enumerate(entries):
        if (category.jurisdiction, category.tax) not in taxes:
            raise invalid(
                f"categories.{i}.tax",
                f"{category.jurisdiction} levies no tax {category.tax!r}",
                "unknown_tax",
            )
        if not CATEGORY_CODE.match(category.code):
            raise invalid(
                f"categories.{i}.code",
                f"{category.code!r} is not a category code such as reduced",
                "invalid_category_code",
            )
        key = (category.jurisdiction, category.tax, category.code)
        if key in indexed:
            raise invalid(
                f"categories.{i}.code",
                f"{category.jurisdiction} {category.tax} category {category.code} is listed twice",
                "duplicate_category",
            )
        check_category_threshold(i, category)
        indexed[key] = category
    return indexed


def _index_rates(
    entries: Sequence[TaxRate],
    categories: dict[tuple[str, str, str], TaxCategory],
    taxes: dict[tuple[str, str], TaxDefinition],
) -> dict[tuple[str, str, str], list[TaxRate]]:
    by_key: dict[tuple[str, str, str], list[tuple[int, TaxRate]]] = {}
    for i, rate in enumerate(entries):
        _check_rate(i, rate, categories)
        _check_rate_within_tax(i, rate, taxes[(rate.jurisdiction, rate.tax)])
        by_key.setdefault((rate.jurisdiction, rate.tax, rate.category), []).append((i, rate))
    indexed: dict[tuple[str, str, str], list[TaxRate]] = {}
    for key, numbered in by_key.items():
        numbered.sort(key=lambda pair: pair[1].valid_from)
        for (_, earlier), (i, later) in pairwise(numbered):
            if earlier.valid_to is None or earlier.valid_to > later.valid_from:
                raise invalid(
                    f"rates.{i}.valid_from",
                    f"{'/'.join(key)} rate {format_percent(later.percent)} % from "
                    f"{later.valid_from.isoformat()} overlaps the rate "
                    f"{format_percent(earlier.percent)} % in force on "
                    f"[{earlier.valid_from.isoformat()}, "
                    f"{earlier.valid_to.isoformat() if earlier.valid_to else 'open'})",
                    "rate_interval_overlap",
                )
        indexed[key] = [rate for _, rate in numbered]
    return indexed


def _check_rate(i: int, rate: TaxRate, categories: dict[tuple[str, str, str], TaxCategory]) -> None:
    category = categories.get((rate.jurisdiction, rate.tax, rate.category))
    if category is None:
        raise invalid(
            f"rates.{i}.category",
            f"unknown tax category {rate.category!r} for {rate.jurisdiction} {rate.tax}",
            "unknown_tax_category",
        )
    if not category.kind.needs_rate:
        raise invalid(
            f"rates.{i}.category",
            f"{rate.category} is {category.kind.value}: it takes no rate",
            "rate_not_allowed",
        )
    if not rate.percent.is_finite() or not 0 <= rate.percent <= _MAX_PERCENT:
        raise invalid(f"rates.{i}.percent", "a rate is a percentage from 0 to 100", "invalid_rate")
    check_rate_terms(i, rate)
    if rate.valid_to is not None and rate.valid_to <= rate.valid_from:
        raise invalid(
            f"rates.{i}.valid_to", "valid_to must be after valid_from", "invalid_interval"
        )
    if not rate.source.publication.strip() or not rate.source.url.startswith("https://"):
        raise invalid(
            f"rates.{i}.source",
            "every rate names its publication and an https URL",
            "missing_source",
        )


def _check_rate_within_tax(i: int, rate: TaxRate, tax: TaxDefinition) -> None:
    starts_early = tax.in_force_from is not None and rate.valid_from < tax.in_force_from
    ends_late = tax.in_force_to is not None and (
        rate.valid_to is None or rate.valid_to > tax.in_force_to
    )
    if starts_early or ends_late:
        raise invalid(
            f"rates.{i}.valid_to" if ends_late and not starts_early else f"rates.{i}.valid_from",
            f"{tax.key} is in force on [{_day(tax.in_force_from)}, {_day(tax.in_force_to)}); "
            f"a rate on [{_day(rate.valid_from)}, {_day(rate.valid_to)}) lies outside it",
            "rate_outside_tax_period",
        )


def _day(day: date | None) -> str:
    return day.isoformat() if day else "open"
