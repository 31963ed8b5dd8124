"""Recognizing card numbers (PANs) so that none enters the system.

Payments are charged to a provider's token, never to a card number: a PAN in a
request would be stored, copied into events and logs, and bring the whole system
into PCI DSS scope. ``contains_card_number`` finds anything that looks like one in
a string: 13 to 19 digits, in one run or in groups split by single spaces, dashes or
underscores, whose Luhn checksum is valid. Groups are tried in every contiguous combination, so a
number sitting next to other digits ("order 77 4111 1111 1111 1111") is still found.
About one in ten random digit strings of that length passes Luhn, so an order number
of 13 to 19 digits may be refused too: such references belong in a reference field.
"""

from __future__ import annotations

import re

MIN_PAN_DIGITS = 13
MAX_PAN_DIGITS = 19
# Digit groups joined by single spaces, dashes or underscores; anything else ends the run.
_DIGIT_RUN = re.compile(r"\d+(?:[ _-]\d+)*")
_SEPARATOR = re.compile(r"[ _-]")


def luhn_valid(digits: str) -> bool:
    """Whether the string of decimal digits passes the Luhn (mod 10) check."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = ord(character) - 48
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _looks_like_pan(digits: str) -> bool:
    return MIN_PAN_DIGITS <= len(digits) <= MAX_PAN_DIGITS and luhn_valid(digits)


def contains_card_number(text: str) -> bool:
    """Whether ``text`` holds something that looks like a card number (see module doc)."""
    for run in _DIGIT_RUN.finditer(text):
        groups = _SEPARATOR.split(run.group())
        for first in range(len(groups)):
            joined = ""
            for group in groups[first:]:
                joined += group
                if len(joined) > MAX_PAN_DIGITS:
                    break  # an unbroken run longer than a PAN is some other number
                if _looks_like_pan(joined):
                    return True
    return False
