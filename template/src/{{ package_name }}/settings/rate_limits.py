"""The type of every RATE_LIMIT_* setting: a rate in the notation of `limits`, checked when the settings load."""

from typing import Annotated

from limits import parse_many
from pydantic import AfterValidator


def _parses(value: str) -> str:
    try:
        parse_many(value)
    except ValueError:
        msg = f"{value!r} is not a rate limit like '5/minute' or '10/15 minutes'"
        raise ValueError(msg) from None
    return value


RateLimit = Annotated[str, AfterValidator(_parses)]
