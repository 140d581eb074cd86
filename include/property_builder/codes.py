"""Code lists the contract checks against: countries, languages, currencies, IBAN lengths.

Countries, languages and currencies come from `pycountry` (ISO 3166-1, 639-1, 4217),
loaded on first use so that importing this module stays cheap.
"""

from __future__ import annotations

from functools import cache

# ISO 4217 minor units that differ from the usual two decimals.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}

# ISO 4217 codes that are funds, metals or test codes, not money a partner is paid in.
NON_TRADING_CURRENCIES = frozenset(
    "XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX BOV CHE CHW COU MXV USN".split()
)

# VAT identifiers that do not start with the ISO country code.
VAT_PREFIXES: dict[str, str] = {"GR": "EL"}

# IBAN length per country, from the SWIFT IBAN registry.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


@cache
def countries() -> frozenset[str]:
    """Return the ISO 3166-1 alpha-2 country codes."""
    import pycountry

    return frozenset(country.alpha_2 for country in pycountry.countries)


@cache
def languages() -> frozenset[str]:
    """Return the ISO 639-1 two-letter language codes."""
    import pycountry

    return frozenset(
        language.alpha_2 for language in pycountry.languages if hasattr(language, "alpha_2")
    )


@cache
def currencies() -> frozenset[str]:
    """Return the ISO 4217 codes a property can be priced in."""
    import pycountry

    return frozenset(
        currency.alpha_3
        for currency in pycountry.currencies
        if currency.alpha_3 not in NON_TRADING_CURRENCIES
    )


def currency_exponent(currency: str) -> int:
    """Return how many decimals an amount in `currency` has."""
    return CURRENCY_EXPONENTS.get(currency, 2)


def iban_problem(iban: str) -> str | None:
    """Return why `iban` (spaces already removed, upper case) is invalid, or None."""
    country = iban[:2]
    expected = IBAN_LENGTHS.get(country)
    if expected is None:
        return f"country code {country!r} does not issue IBANs"
    if len(iban) != expected:
        return f"an IBAN from {country} has {expected} characters, this one has {len(iban)}"
    if not iban.isalnum() or not iban[2:4].isdigit():
        return "only letters and digits are allowed, with two check digits after the country"
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    if int(number) % 97 != 1:
        return "the check digits do not match (mod-97 checksum failed)"
    return None
