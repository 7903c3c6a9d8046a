"""Request bodies and answers of the consumer routes and of sign-up / social sign-in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.common import Body
from engine.consumers.schemas import ProfileChanges
from engine.consumers.service import Consumer as ConsumerView
from engine.workflows.interpreter_logic import iso_timestamp


class ProfileBody(BaseModel):
    """Profile fields in the contract's camelCase; only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    firstName: str | None = None
    lastName: str | None = None
    phone: str | None = None
    languageCode: str | None = None
    displayCurrency: str | None = None
    homeCountryCode: str | None = None
    travelProfile: Any | None = None
    address: Any | None = None

    @model_validator(mode="after")
    def _valid_profile(self) -> ProfileBody:
        self.profile()  # the engine's checks (currency, country, phone...), as a 400
        return self

    def profile(self) -> ProfileChanges:
        """The profile fields sent (others of a subclass, like `email`, are left out)."""
        sent = self.model_dump(exclude_unset=True, include=set(ProfileBody.model_fields))
        names = {
            "firstName": "first_name",
            "lastName": "last_name",
            "phone": "phone",
            "languageCode": "language_code",
            "displayCurrency": "display_currency",
            "homeCountryCode": "home_country_code",
            "travelProfile": "travel_profile",
            "address": "address",
        }
        return ProfileChanges(**{names[key]: value for key, value in sent.items()})


class ProfilePatchBody(ProfileBody):
    """A consumer's own changes: `email` and `active` are not theirs to change (400)."""


class ConsumerCreateBody(ProfileBody):
    email: str
    password: str = Field(min_length=1)


class ConsumerUpdateBody(ProfileBody):
    id: str


class SignupBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str
    password: str


class SocialBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider: str
    token: str


class Consumer(Body):
    id: str
    userId: str
    email: str
    firstName: str | None
    lastName: str | None
    phone: str | None
    languageCode: str | None
    displayCurrency: str | None
    homeCountryCode: str | None
    travelProfile: Any | None
    address: Any | None
    active: bool
    createdAt: str

    @classmethod
    def of(cls, consumer: ConsumerView) -> Consumer:
        row = consumer.row
        return cls(
            id=str(row.id),
            userId=str(row.user_id),
            email=consumer.email,
            firstName=row.first_name,
            lastName=row.last_name,
            phone=row.phone,
            languageCode=row.language_code,
            displayCurrency=row.display_currency,
            homeCountryCode=row.home_country_code,
            travelProfile=row.travel_profile,
            address=row.address,
            active=row.active,
            createdAt=iso_timestamp(row.created_at),
        )


class SignedUp(Body):
    token: str
    refreshToken: str
    user: Consumer


class SocialSignedIn(SignedUp):
    isNewUser: bool
