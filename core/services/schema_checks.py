"""Schemas checked before they reach a registry, so a broken one is refused with the place that is wrong instead of
being registered (a registry stores JSON Schema ``{"type": "objekt"}`` without a word):

- JSON Schema: against its draft's metaschema (``jsonschema``), naming the path of the first error;
- Protobuf: parsed (``proto-schema-parser``), every field's type resolved against the scalars, the messages and enums
  the file declares (nested ones too) and well-known imported types; the field is named;
- Avro: each field's type walked before fastavro parses the whole, naming the field (``core.services.avro``).
"""

from __future__ import annotations

import json
from typing import Any

from core.errors import InvalidArgument

PROTO_SCALARS = {
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32",
    "sfixed64", "bool", "string", "bytes",
}  # fmt: skip


def check_json_schema(text: str) -> Any:
    """The parsed schema, or ``InvalidArgument`` naming where it breaks its metaschema."""
    import jsonschema

    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"The JSON Schema is not valid JSON: {exc}.") from None
    if not isinstance(schema, dict | bool):
        raise InvalidArgument("A JSON Schema is an object (or true/false).")
    validator = jsonschema.validators.validator_for(schema)
    errors = sorted(validator(validator.META_SCHEMA).iter_errors(schema), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "the top level"
        detail = _json_schema_reason(first)
        raise InvalidArgument(
            f"The JSON Schema is invalid at {where}: {detail}",
            hint="Fix that keyword (see json-schema.org for the draft the schema declares in $schema).",
        )
    return schema


def _json_schema_reason(error: Any) -> str:
    # "anyOf"-style errors hide the useful part (e.g. an unknown "type" name) one level down
    if error.validator in ("anyOf", "oneOf") and error.path and error.path[-1] == "type":
        kinds = "array, boolean, integer, null, number, object, string"
        return f"{error.instance!r} is not a JSON Schema type ({kinds})."
    return str(error.message)


def check_protobuf(text: str) -> Any:
    """The parsed file, or ``InvalidArgument`` naming the line or the field that is wrong."""
    from antlr4.error.ErrorListener import ErrorListener
    from proto_schema_parser import ast
    from proto_schema_parser.parser import Parser

    problems: list[str] = []

    class Collect(ErrorListener):  # type: ignore[misc]
        def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:
            problems.append(f"line {line}:{column}: {msg}")

    def quiet(part: Any) -> None:
        part.removeErrorListeners()
        part.addErrorListener(Collect())

    parsed = Parser(setup_lexer=quiet, setup_parser=quiet).parse(text)
    if problems:
        raise InvalidArgument(f"The Protobuf schema does not parse: {problems[0]}.")
    package = next((e.name for e in parsed.file_elements if isinstance(e, ast.Package)), "")
    imports = [e.name for e in parsed.file_elements if isinstance(e, ast.Import)]
    declared: set[str] = set()

    def collect(elements: list[Any], prefix: str) -> None:
        for e in elements:
            if isinstance(e, ast.Message | ast.Enum):
                name = f"{prefix}{e.name}"
                declared.add(name)
                if isinstance(e, ast.Message):
                    collect(e.elements, f"{name}.")

    collect(parsed.file_elements, "")

    def resolves(kind: str, scope: str) -> bool:
        if kind in PROTO_SCALARS:
            return True
        name = kind.lstrip(".")
        if package and name.startswith(package + "."):
            name = name[len(package) + 1 :]
        if name.startswith("google.protobuf."):
            return True  # the well-known types
        parts = scope.split(".") if scope else []
        for depth in range(len(parts), -1, -1):  # innermost scope first, as protoc resolves
            if ".".join([*parts[:depth], name]) in declared:
                return True
        return bool(imports)  # maybe from an imported file (its references are the registry's to check)

    def check(elements: list[Any], scope: str) -> None:
        for e in elements:
            if isinstance(e, ast.Message):
                check(e.elements, f"{scope}.{e.name}" if scope else e.name)
            elif isinstance(e, ast.Field) and not resolves(e.type, scope):
                raise InvalidArgument(
                    f"The Protobuf schema is invalid: field '{scope}.{e.name}' has type '{e.type}', which is neither "
                    "a scalar type nor a message or enum this schema declares or imports.",
                    hint="Declare the type, import the file that does, or fix its name.",
                )
            elif isinstance(e, ast.MapField):
                for kind in (e.key_type, e.value_type):
                    if not resolves(kind, scope):
                        raise InvalidArgument(
                            f"The Protobuf schema is invalid: map field '{scope}.{e.name}' uses unknown type '{kind}'."
                        )
            elif isinstance(e, ast.OneOf):
                check(e.elements, scope)

    check(parsed.file_elements, "")
    return parsed
