"""Which customer field each CSV column fills: recognised from the headers of common exports, or given.

Audience exports of Mailchimp ("Email Address", "First Name", "Last Name", "TIMEZONE", …), Klaviyo
("Email", "First Name", …), SendGrid Marketing ("EMAIL", "FIRST_NAME", …, "CONTACT_ID") and Brevo
("EMAIL", "FIRSTNAME", "LASTNAME", "SMS", "EXT_ID") map without help. Any other column becomes an attribute
under its own name; a map given by the user (`Email Address:email`) wins over what was recognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FIELDS = ("external_id", "email", "timezone", "locale", "subscribed", "attributes")
NAME_ATTRIBUTES = ("first_name", "last_name")
SKIP = "skip"
# Targets that are not attributes: the customer's own fields, a consent column read as `subscribed`,
# an unsubscribe time (a value means unsubscribed) and skipping the column.
TARGETS = (*FIELDS, *NAME_ATTRIBUTES, "consent", "unsubscribed_at", SKIP)

_ALIASES = {
    "email": "email", "emailaddress": "email", "e-mail": "email", "mail": "email", "emailaddr": "email",
    "externalid": "external_id", "extid": "external_id", "customerid": "external_id", "userid": "external_id",
    "firstname": "first_name", "fname": "first_name", "givenname": "first_name", "prenom": "first_name",
    "vorname": "first_name",
    "lastname": "last_name", "lname": "last_name", "surname": "last_name", "familyname": "last_name",
    "nom": "last_name", "nachname": "last_name",
    "timezone": "timezone", "tz": "timezone", "timezonename": "timezone", "ianatimezone": "timezone",
    "locale": "locale", "language": "locale", "lang": "locale",
    "subscribed": "subscribed", "emailmarketingconsent": "consent", "unsubtime": "unsubscribed_at",
    "attributes": "attributes",
}

# Columns (exactly as the tools write them) by which an export is recognised, beside its email column.
_SIGNATURES = (
    ("mailchimp", "Email Address", {"MEMBER_RATING", "OPTIN_TIME", "CONFIRM_TIME", "LEID", "EUID", "GMTOFF",
                                    "TIMEZONE", "LAST_CHANGED"}),
    ("klaviyo", "Email", {"Email Marketing Consent", "First Active", "Last Active", "Profile Created On",
                          "Initial Source", "Date Added"}),
    ("sendgrid", "EMAIL", {"CONTACT_ID", "FIRST_NAME", "ADDRESS_LINE_1", "STATE_PROVINCE_REGION",
                           "ALTERNATE_EMAILS", "UNIQUE_NAME"}),
    ("brevo", "EMAIL", {"FIRSTNAME", "LASTNAME", "SMS", "EXT_ID", "EMAIL_BLACKLISTED"}),
)


def _key(header: str) -> str:
    return re.sub(r"[\s_]+", "", header.strip().lower())


@dataclass
class Mapping:
    """Column → target (a field, `first_name`/`last_name`, `consent`, `unsubscribed_at`, `skip`, or
    `attributes.<name>`), and the tool the file was recognised as."""

    columns: dict[str, str] = field(default_factory=dict)
    source: str = "generic"

    def targets(self) -> set[str]:
        return set(self.columns.values())

    def as_dict(self) -> dict[str, str]:
        return dict(self.columns)


def parse_map(spec: str) -> dict[str, str]:
    """`Email Address:email,First Name:first_name` (or `=` instead of `:`) as {column: target};
    ValueError names a bad pair. A target that is not a field is an attribute of that name."""
    out: dict[str, str] = {}
    for part in (p for p in spec.split(",") if p.strip()):
        sep = "=" if "=" in part else ":"
        column, _, target = part.rpartition(sep)
        column, target = column.strip(), target.strip()
        if not column or not target:
            raise ValueError(f"map entry {part.strip()!r}: write COLUMN:TARGET (for example Email Address:email)")
        if not re.fullmatch(r"[A-Za-z0-9_\- .]{1,64}", target):
            raise ValueError(f"map target {target!r}: use letters, digits, spaces, '_', '-' or '.'")
        out[column] = target
    return out


def _target(name: str) -> str:
    low = name.lower()
    if low in TARGETS:
        return low
    if low.startswith("attributes."):
        return "attributes." + name.split(".", 1)[1]
    return "attributes." + name


def recognise(header: list[str], given: dict[str, str] | None = None) -> Mapping:
    """The mapping for this header: aliases and export signatures, then the user's map on top.

    ValueError when the map names a column the file lacks or the result has no email column.
    """
    present = set(header)
    source = "generic"
    for name, email_column, marks in _SIGNATURES:
        if email_column in present and present & marks:
            source = name
            break
    columns: dict[str, str] = {}
    taken: set[str] = set()
    for h in header:
        if not h:
            continue
        target = _ALIASES.get(_key(h))
        if target and target not in taken:
            columns[h] = target
            taken.add(target)
        else:
            columns[h] = "attributes." + h
    for column, target in (given or {}).items():
        match = next((h for h in header if h == column), None) or next(
            (h for h in header if _key(h) == _key(column)), None)
        if match is None:
            raise ValueError(f"map names column {column!r}, which the file does not have (columns: "
                             f"{', '.join(header)[:300]})")
        resolved = _target(target)
        for h, t in list(columns.items()):  # a field is filled by one column only
            if t == resolved and h != match and resolved in TARGETS:
                columns[h] = "attributes." + h
        columns[match] = resolved
    if "email" not in columns.values():
        raise ValueError("no email column: name one with a map such as 'E-mail:email' (columns: "
                         f"{', '.join(header)[:300]})")
    return Mapping(columns, source)
