"""Place-of-supply rules by supply type: one vector per article, pure and through the engine."""

from __future__ import annotations

from typing import Any

import pytest

from shared.tax import Reason
from shared.tax.place_of_supply import Parties, PlaceDecision, PlaceSource, SupplyType, decide

from .support import D, line, payload, run

FR_VAT_ID = "FR40303265045"
# A German seller; a French business (valid id of its own member state) or consumer.
B2B = Parties("DE", "FR", "FR")
B2C = Parties("DE", "FR", None)
CALLER, LOCATION, BUYER = PlaceSource.CALLER, PlaceSource.LOCATION, PlaceSource.BUYER


@pytest.mark.parametrize(
    ("supply_type", "parties", "caller_place", "location", "expected"),
    [
        # art. 44: B2B services where the caller says (the customer's state); reverse charge
        pytest.param(
            SupplyType.GENERAL,
            B2B,
            "FR",
            None,
            PlaceDecision("FR", CALLER, "art. 44", True),
            id="art44_general_b2b",
        ),
        # art. 45: B2C services at the seller's establishment
        pytest.param(
            SupplyType.GENERAL,
            B2C,
            "DE",
            None,
            PlaceDecision("DE", CALLER, "art. 45", False),
            id="art45_general_b2c",
        ),
        # B2C elsewhere (a distance sale of goods to France): the caller's place, no article
        pytest.param(
            SupplyType.GENERAL,
            B2C,
            "FR",
            None,
            PlaceDecision("FR", CALLER, None, False),
            id="general_b2c_destination",
        ),
        # art. 47: a German hotel stay sold to a French business: Germany, no reverse charge
        pytest.param(
            SupplyType.IMMOVABLE_PROPERTY,
            B2B,
            "FR",
            "DE",
            PlaceDecision("DE", LOCATION, "art. 47", False),
            id="art47_property_b2b",
        ),
        pytest.param(
            SupplyType.IMMOVABLE_PROPERTY,
            B2C,
            "DE",
            "NL",
            PlaceDecision("NL", LOCATION, "art. 47", False),
            id="art47_property_b2c",
        ),
        # art. 48: a domestic French train journey sold by a German seller: France
        pytest.param(
            SupplyType.PASSENGER_TRANSPORT,
            B2B,
            "DE",
            "FR",
            PlaceDecision("FR", LOCATION, "art. 48", False),
            id="art48_transport_b2b",
        ),
        pytest.param(
            SupplyType.PASSENGER_TRANSPORT,
            B2C,
            "DE",
            "FR",
            PlaceDecision("FR", LOCATION, "art. 48", False),
            id="art48_transport_b2c",
        ),
        # art. 53: admission to a Dutch conference for a French business: the Netherlands
        pytest.param(
            SupplyType.EVENT_ADMISSION,
            B2B,
            "FR",
            "NL",
            PlaceDecision("NL", LOCATION, "art. 53", False),
            id="art53_event_b2b",
        ),
        # art. 54: the same ticket for a consumer
        pytest.param(
            SupplyType.EVENT_ADMISSION,
            B2C,
            "DE",
            "NL",
            PlaceDecision("NL", LOCATION, "art. 54", False),
            id="art54_event_b2c",
        ),
        # art. 55: a dinner in Spain: Spain, whoever eats it
        pytest.param(
            SupplyType.RESTAURANT_CATERING,
            B2B,
            "FR",
            "ES",
            PlaceDecision("ES", LOCATION, "art. 55", False),
            id="art55_restaurant_b2b",
        ),
        pytest.param(
            SupplyType.RESTAURANT_CATERING,
            B2C,
            "DE",
            "ES",
            PlaceDecision("ES", LOCATION, "art. 55", False),
            id="art55_restaurant_b2c",
        ),
        # art. 58: an e-book download for a French consumer: France, whatever the caller said
        pytest.param(
            SupplyType.ELECTRONIC_SERVICES,
            B2C,
            "DE",
            None,
            PlaceDecision("FR", BUYER, "art. 58", False),
            id="art58_electronic_b2c",
        ),
        # art. 44 again for the same e-service to a business
        pytest.param(
            SupplyType.ELECTRONIC_SERVICES,
            B2B,
            "FR",
            None,
            PlaceDecision("FR", CALLER, "art. 44", True),
            id="art44_electronic_b2b",
        ),
        # A consumer outside the EU: the caller's place stands, outside the Directive
        pytest.param(
            SupplyType.ELECTRONIC_SERVICES,
            Parties("DE", "US", None),
            "US-CA",
            None,
            PlaceDecision("US-CA", CALLER, None, False),
            id="electronic_non_eu_consumer",
        ),
        # A hotel in California: taxed there, no EU article
        pytest.param(
            SupplyType.IMMOVABLE_PROPERTY,
            B2B,
            "FR",
            "US-CA",
            PlaceDecision("US-CA", LOCATION, None, False),
            id="property_outside_eu",
        ),
        # Same member state on both sides is no intra-EU B2B supply
        pytest.param(
            SupplyType.GENERAL,
            Parties("FR", "FR", "FR"),
            "FR",
            None,
            PlaceDecision("FR", CALLER, "art. 45", False),
            id="domestic_b2b",
        ),
        # The id belongs to another state than the buyer's: treated as a consumer
        pytest.param(
            SupplyType.GENERAL,
            Parties("DE", "FR", "IT"),
            "FR",
            None,
            PlaceDecision("FR", CALLER, None, False),
            id="foreign_id",
        ),
    ],
)
def test_rule(
    supply_type: SupplyType,
    parties: Parties,
    caller_place: str,
    location: str | None,
    expected: PlaceDecision,
) -> None:
    assert decide(supply_type, parties, caller_place, location) == expected


def test_location_rules_need_a_location() -> None:
    assert SupplyType.IMMOVABLE_PROPERTY.needs_location
    assert not SupplyType.ELECTRONIC_SERVICES.needs_location
    with pytest.raises(ValueError, match="location"):
        decide(SupplyType.IMMOVABLE_PROPERTY, B2B, "FR", None)


# -- through the engine: seller DE, one line of 100.00 --------------------------------------


def _sale(
    supply_type: str,
    *,
    location: str | None = None,
    tax_id: str | None = FR_VAT_ID,
    **line_extra: Any,
) -> dict[str, Any]:
    buyer: dict[str, Any] = {"country": "FR"}
    if tax_id is not None:
        buyer["tax_id"] = tax_id
    extra = {"supply_type": supply_type, **line_extra}
    if location is not None:
        extra["location"] = location
    return payload(line("1", "100.00", **extra), place="FR", buyer=buyer)


@pytest.mark.parametrize(
    ("body", "place", "rule", "tax", "reason"),
    [
        # art. 44: consulting for a French business: reverse charge, 0.00
        pytest.param(_sale("general"), "FR", "art. 44", "0.00", Reason.REVERSE_CHARGE, id="art44"),
        # art. 47: hotel in Germany (7 %) for a French business: 100.00 * 7 % = 7.00 German VAT
        pytest.param(
            _sale("immovable_property", location="DE", tax_category="reduced"),
            "DE",
            "art. 47",
            "7.00",
            Reason.REDUCED_RATED,
            id="art47_hotel",
        ),
        # art. 48: a train ride within France, FR intermediate 10 %: 10.00
        pytest.param(
            _sale("passenger_transport", location="FR", tax_category="intermediate"),
            "FR",
            "art. 48",
            "10.00",
            Reason.REDUCED_RATED,
            id="art48_domestic_transport",
        ),
        # art. 53: trade fair in the Netherlands, NL 21 %: 21.00
        pytest.param(
            _sale("event_admission", location="NL"),
            "NL",
            "art. 53",
            "21.00",
            Reason.STANDARD_RATED,
            id="art53_event",
        ),
        # art. 55: business dinner in Spain, ES reduced 10 %: 10.00
        pytest.param(
            _sale("restaurant_catering", location="ES", tax_category="reduced"),
            "ES",
            "art. 55",
            "10.00",
            Reason.REDUCED_RATED,
            id="art55_restaurant",
        ),
        # art. 58: e-service to a French consumer although the caller said DE: FR 20 % = 20.00
        pytest.param(
            {**_sale("electronic_services", tax_id=None), "place_of_supply": "DE"},
            "FR",
            "art. 58",
            "20.00",
            Reason.STANDARD_RATED,
            id="art58_electronic_b2c",
        ),
        # art. 58 with a blank id: still a consumer
        pytest.param(
            {**_sale("electronic_services", tax_id="  "), "place_of_supply": "DE"},
            "FR",
            "art. 58",
            "20.00",
            Reason.STANDARD_RATED,
            id="art58_blank_id",
        ),
    ],
)
def test_engine_applies_the_rule(
    body: dict[str, Any], place: str, rule: str, tax: str, reason: Reason
) -> None:
    result = run(body)
    [line_] = result.lines
    assert (line_.place_of_supply, line_.place_rule, line_.tax) == (place, rule, D(tax))
    assert [t.reason for t in line_.taxes] == [reason]
    assert (result.reverse_charge is not None) is (reason is Reason.REVERSE_CHARGE)
    document = result.to_json()["lines"][0]
    assert (document["place_of_supply_rule"], document["place_of_supply"]) == (rule, place)


def test_the_document_default_supply_type_and_a_line_override() -> None:
    # Document: electronic services to a French consumer (FR 20 % = 20.00); the second line is
    # a German hotel night (DE 7 % = 7.00): 27.00 in all
    result = run(
        payload(
            line("1", "100.00"),
            line(
                "1",
                "100.00",
                supply_type="immovable_property",
                location="DE",
                tax_category="reduced",
            ),
            place="DE",
            supply_type="electronic_services",
            buyer={"country": "FR"},
        )
    )
    assert [(ln.place_of_supply, ln.tax) for ln in result.lines] == [
        ("FR", D("20.00")),
        ("DE", D("7.00")),
    ]
    assert result.tax == D("27.00")


def test_mixed_document_keeps_the_reverse_charge_to_its_line() -> None:
    # Consulting (art. 44, reverse charged) and a German hotel (art. 47, 7 % = 7.00) for
    # the same French business on one invoice
    result = run(
        payload(
            line("1", "100.00"),
            line(
                "1",
                "100.00",
                supply_type="immovable_property",
                location="DE",
                tax_category="reduced",
            ),
            place="FR",
            buyer={"country": "FR", "tax_id": FR_VAT_ID},
        )
    )
    assert [ln.taxes[0].reason for ln in result.lines] == [
        Reason.REVERSE_CHARGE,
        Reason.REDUCED_RATED,
    ]
    assert result.tax == D("7.00")
    assert result.reverse_charge is not None
