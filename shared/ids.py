"""Which strings can name a Firestore document: one rule for path parameters and cursors.

Pure (no I/O, no web framework): the router refuses a path parameter that names no
document, and a cursor's position refuses such an id, with this same rule.
"""

from __future__ import annotations

import re

# Firestore reserves ids of the form __x__ and refuses "." and "..", and no id of ours
# holds a control character or runs past this length; such a value names nothing, so a
# caller can refuse it before any I/O instead of meeting a database error.
MAX_DOCUMENT_ID_LENGTH = 256
_UNUSABLE_DOCUMENT_ID = re.compile(r"^(?:\.{1,2}|__.*__)$|[\x00-\x1f\x7f]", re.DOTALL)


def usable_document_id(value: str) -> bool:
    """Whether ``value`` can be one segment of a document path (it may still hold '/':
    a path parameter never does, a caller that takes whole ids refuses it itself)."""
    return 0 < len(value) <= MAX_DOCUMENT_ID_LENGTH and not _UNUSABLE_DOCUMENT_ID.search(value)
