"""Strict scalars for every request model (API bodies and the bodies services validate)."""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def _scalar_types(annotation: Any) -> set[Any]:
    """The plain types a field accepts, through Optional/Union/Annotated."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _scalar_types(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return {t for arg in get_args(annotation) for t in _scalar_types(arg)}
    return {annotation}


class StrictScalars(BaseModel):
    """Booleans must be JSON booleans and integers JSON integers (`0`, `"false"`, `"1"` or `true`
    for the other type is refused, naming the field). Pydantic's own strict mode would also refuse
    ISO strings for UUIDs and dates, which JSON can only carry as strings, so only these two
    scalars are made strict. Every request model derives from this (api.schemas.common.Input)."""

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or info.field_name is None:
            return value
        accepted = _scalar_types(cls.model_fields[info.field_name].annotation)
        if bool in accepted and not isinstance(value, bool) and not accepted & {str, Any, int, float}:
            raise PydanticCustomError("bool_type", "Input should be a valid boolean")
        wrong_int = isinstance(value, bool) or not isinstance(value, int)
        if int in accepted and wrong_int and not accepted & {str, Any, float, bool}:
            raise PydanticCustomError("int_type", "Input should be a valid integer")
        return value
