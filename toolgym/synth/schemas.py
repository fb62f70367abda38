"""Checks on tool specs: the JSON-schema meta-schema, toolgym's ToolSpec, and what makes a tool usable."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ValidationError

from toolgym.types import ToolSpec

NAME_PATTERN = r"^[a-z][a-z0-9_]{2,47}$"
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


class ToolSchemaError(ValueError):
    """A tool spec that fails a check, saying which and where."""


def check_parameters(parameters: Any, *, strict: bool) -> None:
    """Raise ToolSchemaError unless ``parameters`` is a valid JSON schema of an arguments object.

    Always: a valid schema under the JSON Schema 2020-12 meta-schema, of type object (when typed), whose
    ``required`` names are properties. ``strict`` (synthetic tools) also wants every property typed and
    described, well-named, and enum values of the declared type.
    """
    if not isinstance(parameters, dict):
        raise ToolSchemaError("parameters must be a JSON schema object")
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ToolSchemaError(f"parameters are not a valid JSON schema at {where}: {exc.message}") from None
    kind = parameters.get("type")
    if kind is not None and kind != "object":
        raise ToolSchemaError(f"parameters must describe an object, not {kind!r}")
    properties = parameters.get("properties", {})
    required = parameters.get("required", [])
    missing = [name for name in required if name not in properties]
    if missing:
        raise ToolSchemaError(f"required parameters {missing} are not among the properties")
    if not strict:
        return
    if kind != "object":
        raise ToolSchemaError("parameters must have type 'object'")
    if len(set(required)) != len(required):
        raise ToolSchemaError("a parameter is listed twice in 'required'")
    for name, prop in properties.items():
        if not _PARAM_NAME.match(name):
            raise ToolSchemaError(f"parameter name {name!r} is not an identifier")
        if not isinstance(prop, dict) or prop.get("type") not in (*_TYPES, "array", "object"):
            raise ToolSchemaError(f"parameter {name!r} needs a type (string, integer, number, boolean, array, object)")
        if not str(prop.get("description", "")).strip():
            raise ToolSchemaError(f"parameter {name!r} needs a description")
        enum = prop.get("enum")
        expected = _TYPES.get(prop["type"])
        if enum is not None and expected is not None:
            bad = [v for v in enum if not isinstance(v, expected) or isinstance(v, bool) != (prop["type"] == "boolean")]
            if bad:
                raise ToolSchemaError(f"parameter {name!r}: enum values {bad} are not of type {prop['type']}")
        if enum is not None and (len(set(map(str, enum))) != len(enum) or any(v == "" for v in enum)):
            raise ToolSchemaError(f"parameter {name!r}: enum values must be distinct and non-empty")


def check_tool(name: Any, description: Any, parameters: Any, *, strict: bool) -> ToolSpec:
    """A validated ToolSpec, or ToolSchemaError. ``strict`` (synthetic tools) also checks the name's form and
    that the description says something."""
    try:
        spec = ToolSpec(name=name, description=description or "", parameters=parameters)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ToolSchemaError(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    if strict:
        if not re.match(NAME_PATTERN, spec.name):
            raise ToolSchemaError(f"tool name {spec.name!r} must be snake_case, 3-48 characters")
        if len(spec.description.split()) < 4:
            raise ToolSchemaError(f"tool {spec.name!r} needs a description of at least four words")
    check_parameters(spec.parameters, strict=strict)
    return spec
