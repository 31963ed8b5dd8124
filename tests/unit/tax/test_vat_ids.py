"""VAT id checks: only a well-formed id of the buyer's member state unlocks the reverse charge."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.tax import Reason, calculate
from shared.tax.model import EU_MEMBER_STATES
from shared.tax.vat_ids import (
    OFFLINE_CHECK,
    OfflineVatNumberChecker,
    TaxIdCheck,
    TaxIdStatus,
    check_vat_number,
)

from .support import D, line, payload, request_of, run, seed_catalog

VALID, INVALID, NOT_CHECKED = TaxIdStatus.VALID, TaxIdStatus.INVALID, TaxIdStatus.NOT_CHECKED


@pytest.mark.parametrize(
    ("tax_id", "country", "status", "normalized", "member_state"),
    [
        pytest.param("FR40303265045", "FR", VALID, "FR40303265045", "FR", id="fr"),
        pytest.param("fr 40 303 265 045", "FR", VALID, "FR40303265045", "FR", id="fr_spaced"),
        pytest.param("DE136695976", "DE", VALID, "DE136695976", "DE", id="de"),
        pytest.param("ATU13585627", "AT", VALID, "ATU13585627", "AT", id="at"),
        pytest.param("NL004495445B01", "NL", VALID, "NL004495445B01", "NL", id="nl"),
        pytest.param("BE0403019261", "BE", VALID, "BE0403019261", "BE", id="be"),
        pytest.param("ESB58378431", "ES", VALID, "ESB58378431", "ES", id="es"),
        # Greece: ISO country GR, VAT prefix EL
        pytest.param("EL094259216", "GR", VALID, "EL094259216", "GR", id="greece_el"),
        # No prefix: the buyer's country's prefix is assumed (EL for Greece)
        pytest.param("094259216", "GR", VALID, "EL094259216", "GR", id="greece_bare"),
        pytest.param("136695976", "DE", VALID, "DE136695976", "DE", id="de_bare"),
        # The last check digit is off by one
        pytest.param("DE136695977", "DE", INVALID, None, None, id="checksum"),
        pytest.param("DE13669597", "DE", INVALID, None, None, id="too_short"),
        pytest.param("   ", "FR", INVALID, None, None, id="blank"),
        pytest.param("", "FR", INVALID, None, None, id="empty"),
        pytest.param("N/A", "FR", INVALID, None, None, id="n_a"),
        pytest.param("none", "FR", INVALID, None, None, id="none_word"),
        # A valid German id is no French buyer's id
        pytest.param("DE136695976", "FR", INVALID, "DE136695976", "DE", id="other_member_state"),
        # Northern Ireland's XI numbers are no member state's VAT ids
        pytest.param("XI123456789", "IE", INVALID, None, None, id="xi"),
        # Outside the EU there is no EU rule to check by, and no reverse charge to unlock
        pytest.param("12-3456789", "US", NOT_CHECKED, "12-3456789", None, id="us"),
    ],
)
def test_offline_check(
    tax_id: str,
    country: str,
    status: TaxIdStatus,
    normalized: str | None,
    member_state: str | None,
) -> None:
    check = check_vat_number(tax_id, country)
    assert (check.status, check.normalized, check.member_state) == (
        status,
        normalized,
        member_state,
    )
    assert check.given == tax_id
    assert check.check == OFFLINE_CHECK
    assert check.detail
    assert check.valid is (status is VALID)


@given(st.text(max_size=40), st.sampled_from(sorted(EU_MEMBER_STATES | {"US", "CH"})))
def test_any_text_gets_an_answer_never_an_exception(text: str, country: str) -> None:
    check = check_vat_number(text, country)
    assert check.status in TaxIdStatus
    if check.valid:
        assert check.member_state == country


def _cross_border(tax_id: str) -> dict[str, Any]:
    return payload(line("1", "100.00"), place="FR", buyer={"country": "FR", "tax_id": tax_id})


@pytest.mark.parametrize("tax_id", ["   ", "N/A", "FR00303265045", "DE136695976", "x"])
def test_an_unusable_vat_id_makes_the_buyer_a_consumer(tax_id: str) -> None:
    # DE seller, FR buyer, 100.00: the id does not hold, so FR 20 % = 20.00 and no legend
    result = run(_cross_border(tax_id))
    assert result.tax == D("20.00")
    assert result.lines[0].taxes[0].reason is Reason.STANDARD_RATED
    assert result.reverse_charge is None
    assert result.buyer_tax_id is not None
    assert result.buyer_tax_id.status is INVALID
    document = result.to_json()
    assert document["reverse_charge"] is None
    assert document["buyer_tax_id"]["valid"] is False
    assert document["buyer_tax_id"]["given"] == tax_id


def test_a_valid_vat_id_is_recorded_normalised_and_carried_in_the_legend() -> None:
    result = run(_cross_border("fr 40-303.265.045"))
    assert result.tax == D("0.00")
    assert result.reverse_charge is not None
    assert result.reverse_charge.buyer_tax_id == "FR40303265045"
    assert result.to_json()["buyer_tax_id"] == {
        "given": "fr 40-303.265.045",
        "normalized": "FR40303265045",
        "member_state": "FR",
        "status": "valid",
        "valid": True,
        "check": OFFLINE_CHECK,
        "detail": "format and check digits are valid (registration not confirmed online)",
    }


def test_no_tax_id_records_no_check() -> None:
    result = run(payload(line("1", "100.00"), place="FR", buyer={"country": "FR"}))
    assert result.buyer_tax_id is None
    assert result.to_json()["buyer_tax_id"] is None


class _RegistryChecker:
    """Stands in for an online (VIES) adapter: it knows which numbers are registered."""

    def __init__(self, registered: set[str]) -> None:
        self.registered = registered

    def check(self, tax_id: str, country: str) -> TaxIdCheck:
        offline = OfflineVatNumberChecker().check(tax_id, country)
        known = offline.valid and offline.normalized in self.registered
        return TaxIdCheck(
            tax_id,
            offline.normalized,
            offline.member_state,
            VALID if known else INVALID,
            "vies",
            "registered" if known else "not registered",
        )


@pytest.mark.parametrize(("registered", "tax"), [({"FR40303265045"}, "0.00"), (set(), "20.00")])
def test_an_online_check_decides_when_the_document_carries_it(
    registered: set[str], tax: str
) -> None:
    document = request_of(_cross_border("FR40303265045")).to_document()
    assert document.buyer is not None and document.buyer.tax_id is not None
    checked = document.with_buyer_tax_id_check(
        _RegistryChecker(registered).check(document.buyer.tax_id, document.buyer.country)
    )
    result = calculate(checked, seed_catalog())
    assert result.tax == D(tax)
    assert result.to_json()["buyer_tax_id"]["check"] == "vies"
