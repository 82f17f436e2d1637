"""What every request body and text query parameter shares: NUL characters are refused.
PostgreSQL text cannot hold them and no person types one, so a string carrying one is
bad input (422) before it reaches an action, rather than a database error (500)."""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator, BaseModel, model_validator

NUL = "\x00"


def _carries_nul(data: Any) -> bool:
    if isinstance(data, str):
        return NUL in data
    if isinstance(data, dict):
        return any(_carries_nul(k) or _carries_nul(v) for k, v in data.items())
    if isinstance(data, list | tuple):
        return any(_carries_nul(item) for item in data)
    return False


def refuse_nul(value: str) -> str:
    if NUL in value:
        raise ValueError("text must not contain NUL characters")
    return value


def _refuse_nul_if_given(value: str | None) -> str | None:
    return value if value is None else refuse_nul(value)


# For text query parameters: Annotated[str | None, Query(...), NoNul].
NoNul = AfterValidator(_refuse_nul_if_given)


class Body(BaseModel):
    """Base of request bodies."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if _carries_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data
