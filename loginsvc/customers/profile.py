"""The shopper's own profile: what may change, how it is checked, and the change itself.

The one schema (`ProfileChange`) serves the JSON API and the HTML form alike, so
both refuse the same input with the same messages.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from loginsvc.core.extensions import db
from loginsvc.core.i18n import SUPPORTED, LocaleCode
from loginsvc.core.iso_codes import COUNTRIES
from loginsvc.core.models import ConsentEvent, Customer
from loginsvc.core.plain_text import CONTROL, CONTROL_MESSAGE
from loginsvc.customers import service as customers_svc

_PHONE = re.compile(r"^\+?[0-9 ()./\-]{3,50}$")

ADDRESS_FIELDS = (
    "name",
    "company",
    "line1",
    "line2",
    "city",
    "postal_code",
    "region",
    "country",
    "phone",
)


def _clean(value: Any) -> Any:
    """Trim text; blank means "not given" (None)."""
    if isinstance(value, str):
        if CONTROL.search(value):
            raise PydanticCustomError("control_chars", CONTROL_MESSAGE)
        value = value.strip()
        return value or None
    return value


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if code not in COUNTRIES:
        raise PydanticCustomError(
            "country", "Use a two-letter ISO 3166-1 country code such as DE or ES."
        )
    return code


def _phone(value: str | None) -> str | None:
    if value is not None and not _PHONE.match(value):
        raise PydanticCustomError("phone", "Use digits, spaces and + ( ) - . / only.")
    return value


Text200 = Annotated[
    Annotated[str, StringConstraints(max_length=200)] | None, BeforeValidator(_clean)
]
Text100 = Annotated[
    Annotated[str, StringConstraints(max_length=100)] | None, BeforeValidator(_clean)
]
Text20 = Annotated[Annotated[str, StringConstraints(max_length=20)] | None, BeforeValidator(_clean)]
Phone = Annotated[
    Annotated[str, StringConstraints(max_length=50)] | None,
    BeforeValidator(_clean),
    AfterValidator(_phone),
]
Country = Annotated[
    Annotated[str, StringConstraints(max_length=64)] | None,
    BeforeValidator(_clean),
    AfterValidator(_country),
]


class AddressIn(BaseModel):
    """A postal address; street, city and country are what a parcel needs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Text200 = None
    company: Text200 = None
    line1: Text200 = None
    line2: Text200 = None
    city: Text100 = None
    postal_code: Text20 = None
    region: Text100 = None
    country: Country = None
    phone: Phone = None

    @field_validator("line1", "city", "country")
    @classmethod
    def _required(cls, value: str | None) -> str:
        if value is None:
            raise PydanticCustomError("missing", "This is needed for an address.")
        return value

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data: Any) -> Any:
        # Left-out required fields get the same message as blank ones.
        if isinstance(data, dict):
            return {"line1": None, "city": None, "country": None, **data}
        return data


class AddressesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    billing: AddressIn | None = None
    shipping: AddressIn | None = None


class ProfileChange(BaseModel):
    """PATCH /api/v1/me: only the fields present change; null clears a text field."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)

    name: Text200 = None
    phone: Phone = None
    company: Text200 = None
    locale: LocaleCode | None = Field(
        default=None, description="a language the service has texts in: " + ", ".join(SUPPORTED)
    )
    newsletter: bool | None = Field(default=None, description="true or false")
    addresses: AddressesIn | None = None
    # Accepted by the schema only to refuse it with a clear reason.
    email: SkipJsonSchema[Any] = None

    @field_validator("email")
    @classmethod
    def _no_email(cls, value: Any) -> Any:
        raise PydanticCustomError(
            "email_not_editable",
            "The e-mail address cannot be changed here: it is the address you sign in with. "
            "Contact the shop to change it.",
        )

    @field_validator("newsletter")
    @classmethod
    def _newsletter(cls, value: bool | None) -> bool:
        if value is None:
            raise PydanticCustomError("bool_type", "Use true or false.")
        return value


def update_profile(customer: Customer, change: ProfileChange) -> Customer:
    """Apply the fields present in `change`, record newsletter consent, commit."""
    given = change.model_fields_set
    for name in ("name", "phone", "company", "locale"):
        if name in given:
            setattr(customer, name, getattr(change, name))
    if (
        "newsletter" in given
        and change.newsletter is not None
        and change.newsletter != customer.newsletter
    ):
        customer.newsletter = change.newsletter
        db.session.add(
            ConsentEvent(customer_id=customer.id, newsletter=change.newsletter, source="profile")
        )
    if "addresses" in given and change.addresses is not None:
        addrs = change.addresses
        for kind in ("billing", "shipping"):
            if kind in addrs.model_fields_set:
                value = getattr(addrs, kind)
                data = (
                    None
                    if value is None
                    else {k: v for k, v in value.model_dump().items() if v is not None}
                )
                setattr(customer, f"{kind}_address", data)
    customer.country = customers_svc.country_of(customer)
    customers_svc.refresh_search_text(customer)
    db.session.commit()
    return customer
