"""The rate catalog: jurisdictions, their taxes, categories and dated rates.

Built once from plain lists (a seed file today, Firestore documents later) and
validated on construction, so that every lookup afterwards is a dictionary
access. Construction refuses, with a :class:`shared.errors.ValidationError`
naming the offending entry (``rates.3.valid_from``): malformed codes,
duplicates, references to unknown jurisdictions/taxes/categories, rates on
zero-rated or exempt categories, empty sources, and two rates of the same
jurisdiction + tax + category whose [valid_from, valid_to) intervals overlap.

A catalog is immutable and safe to share between threads.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import date
from itertools import pairwise

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
        self._rates = _index_rates(list(rates), self._categories)
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

    def taxes_at(self, code: str, *, field: str = "jurisdiction") -> tuple[TaxDefinition, ...]:
        """Every tax levied at a place, in levy order, minus the ones replaced there."""
        chain = self.chain(code, field=field)
        levied = [tax for place in chain for tax in self._taxes_by_jurisdiction.get(place.code, ())]
        replaced = {key for tax in levied for key in tax.replaces}
        depth = {place.code: i for i, place in enumerate(chain)}
        kept = [tax for tax in levied if tax.key not in replaced]
        return tuple(sorted(kept, key=lambda t: (t.order, depth[t.jurisdiction], t.code)))

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
        indexed[entry.code] = entry
    return indexed


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
        enclosing = set(jurisdictions[tax.jurisdiction].parent_codes)
        for key in tax.replaces:
            owner, _, code = key.partition(":")
            if owner not in enclosing or (owner, code) not in indexed:
                raise invalid(
                    f"taxes.{i}.replaces",
                    f"{tax.key} replaces {key!r}, which is no tax of an enclosing jurisdiction",
                    "unknown_replaced_tax",
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
        indexed[key] = category
    return indexed


def _index_rates(
    entries: Sequence[TaxRate], categories: dict[tuple[str, str, str], TaxCategory]
) -> dict[tuple[str, str, str], list[TaxRate]]:
    by_key: dict[tuple[str, str, str], list[tuple[int, TaxRate]]] = {}
    for i, rate in enumerate(entries):
        _check_rate(i, rate, categories)
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
