"""Where a licensee is: the regions licences name, and the countries inside them.

Llama 4's acceptable-use policy withholds its multimodal grant from the European Union, so a
licensee's country (ISO 3166-1 alpha-2) has to be read as "inside the EU" or not.
"""

from __future__ import annotations

# The 27 member states (since 2020-02-01, when the United Kingdom left).
EU_MEMBER_STATES = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    }
)
REGIONS = {"EU": EU_MEMBER_STATES}
REGION_NAMES = {"EU": "the European Union"}


def regions_of(code: str) -> frozenset[str]:
    """The code itself and every region that contains it: 'DE' → {'DE', 'EU'}."""
    found = {code}
    found.update(region for region, members in REGIONS.items() if code in members)
    return frozenset(found)


def region_name(code: str) -> str:
    return REGION_NAMES.get(code, code)
