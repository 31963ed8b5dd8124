"""Where a supply is taxed, and whether the customer accounts for the VAT: the EU rules.

Pure functions, no I/O and no catalog: given what is supplied (its
:class:`SupplyType`), the parties and the places the caller named, decide the
jurisdiction whose taxes apply and whether the EU reverse charge applies.
Article numbers are those of Council Directive 2006/112/EC (the VAT Directive).

"B2B" below means the buyer gave a VAT id that passed the check
(:mod:`shared.tax.vat_ids`) and belongs to the buyer's member state, the seller
is established in another member state, and both are in the EU. Otherwise the
buyer is treated as a consumer ("B2C"), whatever id it typed.

=======================  ===================================  ==================================
supply type              B2B                                  B2C
=======================  ===================================  ==================================
``general`` (default)    art. 44: the caller's place of       the caller's place of supply:
                         supply; reverse charge when that     art. 45 when it is the seller's
                         place is in the EU                   member state; any other place is
                                                              the caller's own determination
                                                              (e.g. distance sales of goods,
                                                              art. 33) and records no article
``electronic_services``  art. 44, as ``general``              art. 58: the buyer's country when
                                                              the buyer is in the EU (else as
                                                              ``general``)
``immovable_property``   art. 47: where the property is       art. 47: the same
                         (``location``); no reverse charge
``passenger_transport``  art. 48: where the transport takes   art. 48: the same
                         place (``location``); no reverse
                         charge
``event_admission``      art. 53: where the event takes       art. 54: where the event takes
                         place (``location``); no reverse     place (``location``)
                         charge
``restaurant_catering``  art. 55: where physically            art. 55: the same
                         performed (``location``); no
                         reverse charge
=======================  ===================================  ==================================

The article is recorded on each line (``place_of_supply_rule``); none when the
place is outside the EU, where the Directive does not apply.

Not modelled: art. 59c (an EU seller under EUR 10,000 of cross-border
electronic services may tax them at home: give ``general`` and the seller's
place), art. 57 (catering on board ships, aircraft or trains), art. 194 (a
member state's optional domestic reverse charge for sellers not established
there), and the distance apportionment of international passenger transport
(art. 48: split the journey into one line per country, each with its share of
the price).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.tax.model import EU_MEMBER_STATES


class SupplyType(StrEnum):
    """What is supplied, as far as the place of supply depends on it."""

    GENERAL = "general"
    ELECTRONIC_SERVICES = "electronic_services"
    IMMOVABLE_PROPERTY = "immovable_property"
    PASSENGER_TRANSPORT = "passenger_transport"
    EVENT_ADMISSION = "event_admission"
    RESTAURANT_CATERING = "restaurant_catering"

    @property
    def needs_location(self) -> bool:
        """Taxed where something physically is or happens: the caller says where."""
        return self in _LOCATION_RULES


class PlaceSource(StrEnum):
    """Which request field the place of supply came from (to name it in an error)."""

    CALLER = "place_of_supply"
    LOCATION = "location"
    BUYER = "buyer.country"


@dataclass(frozen=True, slots=True)
class Parties:
    """The seller's and buyer's countries, and the member state of a valid buyer VAT id."""

    seller_country: str
    buyer_country: str | None = None
    buyer_vat_member_state: str | None = None

    @property
    def business_to_business(self) -> bool:
        """An intra-EU B2B supply: valid VAT id of the buyer's member state, not the seller's."""
        return (
            self.seller_country in EU_MEMBER_STATES
            and self.buyer_country in EU_MEMBER_STATES
            and self.buyer_vat_member_state == self.buyer_country
            and self.buyer_country != self.seller_country
        )


@dataclass(frozen=True, slots=True)
class PlaceDecision:
    """The jurisdiction whose taxes apply, the article that says so, and who pays the VAT."""

    place: str
    source: PlaceSource
    article: str | None  # None when the place is outside the EU: the Directive does not apply
    reverse_charge: bool


_LOCATION_RULES = {
    SupplyType.IMMOVABLE_PROPERTY: ("art. 47", "art. 47"),
    SupplyType.PASSENGER_TRANSPORT: ("art. 48", "art. 48"),
    SupplyType.EVENT_ADMISSION: ("art. 53", "art. 54"),
    SupplyType.RESTAURANT_CATERING: ("art. 55", "art. 55"),
}


def decide(
    supply_type: SupplyType, parties: Parties, caller_place: str, location: str | None
) -> PlaceDecision:
    """The place of supply of one line (see the table in the module docstring).

    ``caller_place`` is the line's or document's ``place_of_supply``;
    ``location`` is where the property is or the service physically happens,
    required for the types that need it (:attr:`SupplyType.needs_location`).
    """
    b2b = parties.business_to_business
    buyer_country = parties.buyer_country
    if supply_type in _LOCATION_RULES:
        if location is None:
            raise ValueError(f"a {supply_type.value} supply needs its location")
        b2b_article, b2c_article = _LOCATION_RULES[supply_type]
        return _decision(location, PlaceSource.LOCATION, b2b_article if b2b else b2c_article)
    if b2b:
        return _decision(caller_place, PlaceSource.CALLER, "art. 44", reverse_charge=True)
    if (
        supply_type is SupplyType.ELECTRONIC_SERVICES
        and buyer_country is not None
        and buyer_country in EU_MEMBER_STATES
    ):
        return _decision(buyer_country, PlaceSource.BUYER, "art. 58")
    at_home = caller_place[:2] == parties.seller_country
    return _decision(caller_place, PlaceSource.CALLER, "art. 45" if at_home else None)


def _decision(
    place: str, source: PlaceSource, article: str | None, *, reverse_charge: bool = False
) -> PlaceDecision:
    in_eu = place[:2] in EU_MEMBER_STATES
    return PlaceDecision(place, source, article if in_eu else None, reverse_charge and in_eu)
