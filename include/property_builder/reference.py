"""Reference data the build applies: gazetteer, tax rates, licence rules, commissions.

Small tables kept in code so that a build is deterministic and testable offline.
TODO: read these from the platform's reference-data service once it has an API; until
then a change here is a code change and a deploy.
"""

from __future__ import annotations

from decimal import Decimal

# City centres used when the partner gave no coordinates, keyed by (country, city).
# TODO: replace with the platform geocoder once it is reachable from the workers; until
# then an address in a city not listed here stays unresolved and goes to review.
GAZETTEER: dict[tuple[str, str], tuple[float, float]] = {
    ("NL", "amsterdam"): (52.3728, 4.8936),
    ("NL", "rotterdam"): (51.9225, 4.4792),
    ("NL", "utrecht"): (52.0907, 5.1214),
    ("DE", "berlin"): (52.5200, 13.4050),
    ("DE", "münchen"): (48.1374, 11.5755),
    ("DE", "munich"): (48.1374, 11.5755),
    ("FR", "paris"): (48.8566, 2.3522),
    ("FR", "lyon"): (45.7640, 4.8357),
    ("ES", "barcelona"): (41.3874, 2.1686),
    ("ES", "madrid"): (40.4168, -3.7038),
    ("PT", "lisboa"): (38.7223, -9.1393),
    ("PT", "lisbon"): (38.7223, -9.1393),
    ("IT", "roma"): (41.9028, 12.4964),
    ("IT", "rome"): (41.9028, 12.4964),
    ("GR", "athens"): (37.9838, 23.7275),
    ("GR", "αθήνα"): (37.9838, 23.7275),
    ("GB", "london"): (51.5072, -0.1276),
    ("US", "new york"): (40.7128, -74.0060),
    ("JP", "tokyo"): (35.6762, 139.6503),
    ("JP", "東京"): (35.6762, 139.6503),
    ("JP", "kyoto"): (35.0116, 135.7681),
    ("TH", "bangkok"): (13.7563, 100.5018),
    ("AU", "sydney"): (-33.8688, 151.2093),
    ("BR", "rio de janeiro"): (-22.9068, -43.1729),
}

# VAT on accommodation, percent, by country.
ACCOMMODATION_VAT: dict[str, Decimal] = {
    "AT": Decimal("10"),
    "BE": Decimal("6"),
    "DE": Decimal("7"),
    "ES": Decimal("10"),
    "FR": Decimal("10"),
    "GB": Decimal("20"),
    "GR": Decimal("13"),
    "IT": Decimal("10"),
    "JP": Decimal("10"),
    "NL": Decimal("9"),
    "PT": Decimal("6"),
}

# Tourist taxes by (country, city): (kind, amount).
CITY_TAXES: dict[tuple[str, str], tuple[str, Decimal]] = {
    ("NL", "amsterdam"): ("percent", Decimal("12.50")),
    ("FR", "paris"): ("per_person_night", Decimal("2.60")),
    ("ES", "barcelona"): ("per_person_night", Decimal("4.00")),
    ("IT", "roma"): ("per_person_night", Decimal("6.00")),
    ("IT", "rome"): ("per_person_night", Decimal("6.00")),
}

# Countries whose short-stay rules require a registration number for these types.
LICENCE_REQUIRED: dict[str, frozenset[str]] = dict.fromkeys(
    ("ES", "FR", "GR", "IT", "NL", "PT"), frozenset({"apartment", "home", "villa"})
)

COMMISSION_PERCENT: dict[str, Decimal] = {
    "hotel": Decimal("15.00"),
    "guesthouse": Decimal("15.00"),
    "hostel": Decimal("12.00"),
    "apartment": Decimal("16.00"),
    "home": Decimal("16.00"),
    "villa": Decimal("18.00"),
}

# Days before arrival when free cancellation ends, and the penalty after that.
CANCELLATION_TERMS: dict[str, tuple[int, int]] = {
    "flexible": (1, 100),
    "moderate": (5, 100),
    "strict": (14, 50),
}
NON_REFUNDABLE_DISCOUNT = Decimal("0.10")
