"""Reading pydantic validation errors into messages that name the field."""

from __future__ import annotations

from pydantic import ValidationError


def first_error(exc: ValidationError, whole: str = "") -> tuple[str, str]:
    """The dotted path of the first invalid field (``whole`` when the record itself is wrong) and its message."""
    err = exc.errors()[0]
    return ".".join(str(p) for p in err["loc"]) or whole, err["msg"]
