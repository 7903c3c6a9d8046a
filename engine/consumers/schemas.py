"""Typed inputs of the consumers domain (pure)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "language_code",
    "display_currency",
    "home_country_code",
    "travel_profile",
    "address",
)


class ProfileChanges(BaseModel):
    """Profile fields; only the fields set are changed (None clears a field)."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()\-]{4,30}$")
    language_code: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    display_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    home_country_code: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    travel_profile: Any | None = None
    address: Any | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
