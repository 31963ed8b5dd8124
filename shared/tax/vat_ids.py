"""Checking a buyer's VAT identification number before it unlocks the reverse charge.

A VAT id only counts when it is a well-formed number of an EU member state
whose check digits match; anything else (blank, ``"N/A"``, a typo) leaves the
buyer a consumer. The default check is offline: format and checksum per member
state with python-stdnum (``stdnum.eu.vat``), no I/O. Whether a number is
actually *registered* is only known to VIES, the Commission's online service;
that check sits behind :class:`VatNumberChecker`, a port a cloud adapter can
implement (and fall back to the offline check when VIES is unavailable).

Every check is recorded on the calculation (:class:`TaxIdCheck`): the number as
given, its normalised form, the member state it belongs to, the status and the
check that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from stdnum import exceptions as stdnum_errors
from stdnum.eu import vat

from shared.tax.model import EU_MEMBER_STATES

OFFLINE_CHECK = "offline_format_checksum"

# VAT numbers use EL for Greece; the rest of the engine speaks ISO 3166 (GR).
_VAT_PREFIX_BY_COUNTRY = {"GR": "EL"}
_COUNTRY_BY_VAT_PREFIX = {"EL": "GR"}


class TaxIdStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    # The buyer is outside the EU: there is no EU rule to check the number by, and an EU
    # reverse charge does not depend on it.
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True, slots=True)
class TaxIdCheck:
    """What a check found out about a buyer's tax id."""

    given: str
    normalized: str | None
    member_state: str | None
    status: TaxIdStatus
    check: str
    detail: str

    @property
    def valid(self) -> bool:
        return self.status is TaxIdStatus.VALID

    def to_json(self) -> dict[str, Any]:
        return {
            "given": self.given,
            "normalized": self.normalized,
            "member_state": self.member_state,
            "status": self.status.value,
            "valid": self.valid,
            "check": self.check,
            "detail": self.detail,
        }


class VatNumberChecker(Protocol):
    """A way to check a VAT id: offline (the default) or online (VIES, an adapter)."""

    def check(self, tax_id: str, country: str) -> TaxIdCheck: ...


class OfflineVatNumberChecker:
    """Format and checksum per member state; pure, so the engine may call it too."""

    def check(self, tax_id: str, country: str) -> TaxIdCheck:
        return check_vat_number(tax_id, country)


def check_vat_number(tax_id: str, country: str) -> TaxIdCheck:
    """Check ``tax_id`` of a buyer in ``country`` (ISO 3166-1 alpha-2) by format and checksum.

    A number without a country prefix gets the buyer's (``EL`` for Greece). A
    number of another member state than the buyer's is invalid for the buyer:
    the reverse charge needs the customer's own identification.
    """
    text = tax_id.strip()
    if not text:
        return _invalid(tax_id, None, "the tax id is blank")
    if country not in EU_MEMBER_STATES:
        detail = f"{country} is not in the EU"
        return TaxIdCheck(tax_id, text, None, TaxIdStatus.NOT_CHECKED, OFFLINE_CHECK, detail)
    candidate = text.upper()
    if not (candidate[:2].isascii() and candidate[:2].isalpha()):
        candidate = _VAT_PREFIX_BY_COUNTRY.get(country, country) + candidate
    try:
        normalized = vat.validate(candidate)
    except stdnum_errors.InvalidChecksum:
        return _invalid(tax_id, None, "the check digits do not match")
    except stdnum_errors.InvalidLength:
        return _invalid(tax_id, None, "the number has the wrong length for its member state")
    except stdnum_errors.InvalidFormat:
        return _invalid(tax_id, None, "the number has the wrong format for its member state")
    except stdnum_errors.ValidationError:
        return _invalid(tax_id, None, "not a VAT number of an EU member state")
    prefix = normalized[:2]
    member_state = _COUNTRY_BY_VAT_PREFIX.get(prefix, prefix)
    if member_state not in EU_MEMBER_STATES:
        return _invalid(tax_id, normalized, f"{prefix} numbers are not VAT ids of a member state")
    if member_state != country:
        return TaxIdCheck(
            tax_id,
            normalized,
            member_state,
            TaxIdStatus.INVALID,
            OFFLINE_CHECK,
            f"a VAT id of {member_state}, not of the buyer's country {country}",
        )
    return TaxIdCheck(
        tax_id,
        normalized,
        member_state,
        TaxIdStatus.VALID,
        OFFLINE_CHECK,
        "format and check digits are valid (registration not confirmed online)",
    )


def _invalid(given: str, normalized: str | None, detail: str) -> TaxIdCheck:
    return TaxIdCheck(given, normalized, None, TaxIdStatus.INVALID, OFFLINE_CHECK, detail)
