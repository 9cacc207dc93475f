"""Schema Registry work over its Confluent-compatible REST API (Confluent SR, Apicurio ``/apis/ccompat/v7``,
Karapace): plain functions taking a ``RestClient`` and returning pydantic models.

The functions that change the registry (``set_compatibility``, ``register_schema``, ``delete_version``) take the
gate's ``Permit`` first; their resources are subject names, and ``GLOBAL`` for the registry-wide default level."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotFound
from core.services import avro
from core.services.rest import RestClient

if TYPE_CHECKING:
    from core.gate import Permit

SchemaType = Literal["AVRO", "JSON", "PROTOBUF"]
LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
# The resource name of the registry-wide default compatibility (schema.compatibility.set without a subject).
GLOBAL = "__global__"
Level = Literal["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"]


class SubjectList(BaseModel):
    registry_url: str
    subjects: list[str]


class SubjectVersions(BaseModel):
    subject: str
    versions: list[int]


class SchemaVersion(BaseModel):
    subject: str
    version: int
    id: int = Field(description="Registry-wide schema id (what the Confluent wire format carries).")
    schema_type: str = Field(description="AVRO, JSON or PROTOBUF.")
    schema_text: str = Field(description="The schema itself.")
    references: list[dict[str, Any]] = Field(default_factory=list)


class CompatibilityLevel(BaseModel):
    subject: str | None = Field(description="None for the registry-wide default.")
    level: str
    source: Literal["subject", "global"] = Field(description="Whether the subject sets its own level.")


class Incompatibility(BaseModel):
    against_version: int
    reason: str
    fix: str


class CompatibilityReport(BaseModel):
    subject: str
    level: str = Field(description="The level the check used (the subject's, else the registry default).")
    compatible: bool = Field(description="The registry's verdict.")
    checked_against: list[int] = Field(description="Versions checked (latest only, or all for *_TRANSITIVE).")
    new_subject: bool = Field(False, description="True when the subject has no versions yet (always compatible).")
    problems: list[Incompatibility] = Field(default_factory=list, description="Why it breaks, with a fix each.")
    note: str | None = None


class RegisterResult(BaseModel):
    subject: str
    id: int
    version: int | None
    already_registered: bool = Field(description="True when this exact schema was already a version of the subject.")
    compatibility: CompatibilityReport | None = None


class DeleteVersionResult(BaseModel):
    subject: str
    version: int
    deleted: bool
    permanent: bool
    remaining_versions: list[int]


def _s(subject: str) -> str:
    if not subject or not subject.strip():
        raise InvalidArgument(
            "The subject name is empty.", hint="Subjects are usually '<topic>-value' or '<topic>-key'."
        )
    return quote(subject, safe="")


def list_subjects(rest: RestClient, *, prefix: str | None = None) -> SubjectList:
    subjects = rest.request("GET", "/subjects", what="list subjects") or []
    if prefix:
        subjects = [s for s in subjects if s.startswith(prefix)]
    return SubjectList(registry_url=rest.base_url, subjects=sorted(subjects))


def list_versions(rest: RestClient, subject: str) -> SubjectVersions:
    versions = rest.request("GET", f"/subjects/{_s(subject)}/versions", what=f"list versions of subject {subject!r}")
    return SubjectVersions(subject=subject, versions=sorted(int(v) for v in versions))


def get_schema(rest: RestClient, subject: str, version: int | str = "latest") -> SchemaVersion:
    data = rest.request(
        "GET", f"/subjects/{_s(subject)}/versions/{version}", what=f"get version {version} of subject {subject!r}"
    )
    return SchemaVersion(
        subject=str(data.get("subject", subject)),
        version=int(data["version"]),
        id=int(data["id"]),
        schema_type=str(data.get("schemaType") or "AVRO"),
        schema_text=str(data["schema"]),
        references=list(data.get("references") or []),
    )


def get_schema_by_id(rest: RestClient, schema_id: int) -> str:
    data = rest.request("GET", f"/schemas/ids/{schema_id}", what=f"get schema id {schema_id}")
    return str(data["schema"])


def get_compatibility(rest: RestClient, subject: str | None = None) -> CompatibilityLevel:
    """The subject's own level when it sets one, else the registry-wide default."""
    if subject:
        try:
            data = rest.request("GET", f"/config/{_s(subject)}", what=f"get compatibility of {subject!r}")
            level = data.get("compatibilityLevel") or data.get("compatibility")
            if level:
                return CompatibilityLevel(subject=subject, level=str(level), source="subject")
        except NotFound:
            pass
    data = rest.request("GET", "/config", what="get the registry's default compatibility")
    level = data.get("compatibilityLevel") or data.get("compatibility") or "BACKWARD"
    return CompatibilityLevel(subject=subject, level=str(level), source="global")


def set_compatibility(permit: Permit, rest: RestClient, level: str, subject: str | None = None) -> CompatibilityLevel:
    """Set the subject's level, or the registry-wide default (resource ``GLOBAL``) when no subject is given."""
    permit.require("schema.compatibility.set", subject or GLOBAL)
    level = level.upper()
    if level not in LEVELS:
        raise InvalidArgument(f"Unknown compatibility level {level!r}.", hint=f"Use one of: {', '.join(LEVELS)}.")
    path = f"/config/{_s(subject)}" if subject else "/config"
    rest.request("PUT", path, json={"compatibility": level}, what=f"set compatibility {level}", permit=permit)
    return get_compatibility(rest, subject)


def _payload(schema: str, schema_type: str) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema}
    if schema_type != "AVRO":
        body["schemaType"] = schema_type
    return body


def validate_schema_text(schema: str, schema_type: str) -> None:
    """Refuse a broken schema before it reaches the registry, naming what is wrong (a registry may store a JSON Schema
    that is not valid, such as {"type": "objekt"})."""
    from core.services import schema_checks

    if schema_type == "AVRO":
        avro.check_valid(schema)
    elif schema_type == "JSON":
        schema_checks.check_json_schema(schema)
    elif schema_type == "PROTOBUF":
        schema_checks.check_protobuf(schema)


def check_compatibility(rest: RestClient, subject: str, schema: str, schema_type: str = "AVRO") -> CompatibilityReport:
    """Ask the registry whether ``schema`` may become the next version of ``subject``, and explain a refusal."""
    validate_schema_text(schema, schema_type)
    level = get_compatibility(rest, subject).level.upper()
    try:
        versions = list_versions(rest, subject).versions
    except NotFound:
        versions = []
    if not versions:
        return CompatibilityReport(
            subject=subject, level=level, compatible=True, checked_against=[], new_subject=True,
            note="The subject has no versions yet: any valid schema can be its first.",
        )  # fmt: skip
    transitive = level.endswith("_TRANSITIVE")
    against = versions if transitive else versions[-1:]
    verdicts: dict[int, bool] = {}
    messages: dict[int, list[str]] = {}
    for v in against:
        data = rest.request(
            "POST",
            f"/compatibility/subjects/{_s(subject)}/versions/{v}",
            params={"verbose": "true"},
            json=_payload(schema, schema_type),
            what=f"check compatibility with {subject!r} version {v}",
            read_only=True,
        )
        verdicts[v] = bool(data.get("is_compatible"))
        messages[v] = [str(m) for m in data.get("messages") or []]
    compatible = all(verdicts.values())
    problems: list[Incompatibility] = []
    note = None
    if not compatible:
        for v, ok in verdicts.items():
            if ok:
                continue
            if schema_type == "AVRO":
                old = get_schema(rest, subject, v).schema_text
                for reason, fix in avro.explain(old, schema, level):
                    problems.append(Incompatibility(against_version=v, reason=reason, fix=fix))
            for message in messages.get(v, []) if not problems else []:
                problems.append(Incompatibility(against_version=v, reason=message, fix="see the registry's message"))
            if not any(p.against_version == v for p in problems):
                problems.append(
                    Incompatibility(
                        against_version=v,
                        reason=f"the registry finds the schema incompatible with version {v} under {level}",
                        fix="compare the two versions field by field; add defaults instead of required fields",
                    )
                )
        if schema_type != "AVRO":
            note = "Detailed reasons are computed for Avro only; for JSON Schema and Protobuf the registry's verdict."
    return CompatibilityReport(
        subject=subject, level=level, compatible=compatible, checked_against=against, problems=problems, note=note
    )


def find_registered(rest: RestClient, subject: str, schema: str, schema_type: str = "AVRO") -> SchemaVersion | None:
    """The version of ``subject`` holding exactly this schema, if any."""
    try:
        data = rest.request(
            "POST",
            f"/subjects/{_s(subject)}",
            json=_payload(schema, schema_type),
            what=f"look up in {subject!r}",
            read_only=True,
        )
    except NotFound:
        return None
    return SchemaVersion(
        subject=subject,
        version=int(data["version"]),
        id=int(data["id"]),
        schema_type=str(data.get("schemaType") or schema_type),
        schema_text=str(data.get("schema", schema)),
    )


def register_schema(
    permit: Permit,
    rest: RestClient,
    subject: str,
    schema: str,
    schema_type: str = "AVRO",
    *,
    report: CompatibilityReport | None = None,
) -> RegisterResult:
    permit.require("schema.register", subject)
    validate_schema_text(schema, schema_type)
    existing = find_registered(rest, subject, schema, schema_type)
    if existing is not None:
        return RegisterResult(
            subject=subject, id=existing.id, version=existing.version, already_registered=True, compatibility=report
        )
    data = rest.request(
        "POST",
        f"/subjects/{_s(subject)}/versions",
        json=_payload(schema, schema_type),
        what=f"register in {subject!r}",
        permit=permit,
    )
    schema_id = int(data["id"])
    found = find_registered(rest, subject, schema, schema_type)
    return RegisterResult(
        subject=subject,
        id=schema_id,
        version=found.version if found else None,
        already_registered=False,
        compatibility=report,
    )


def delete_version(
    permit: Permit, rest: RestClient, subject: str, version: int, *, permanent: bool = False
) -> DeleteVersionResult:
    permit.require("schema.delete", subject)
    what = f"delete version {version} of {subject!r}"
    rest.request("DELETE", f"/subjects/{_s(subject)}/versions/{version}", what=what, permit=permit)
    if permanent:
        # Registries without soft delete (Apicurio) removed it already.
        with contextlib.suppress(NotFound):
            rest.request(
                "DELETE",
                f"/subjects/{_s(subject)}/versions/{version}",
                params={"permanent": "true"},
                what=what,
                permit=permit,
            )
    try:
        remaining = list_versions(rest, subject).versions
    except NotFound:
        remaining = []
    return DeleteVersionResult(
        subject=subject,
        version=version,
        deleted=version not in remaining,
        permanent=permanent,
        remaining_versions=remaining,
    )
