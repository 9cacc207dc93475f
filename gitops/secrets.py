"""Secret references of a platform file, resolved only when a change is applied (never stored in a plan).

${env:NAME}           the environment variable NAME of the applying process
${file:/path}         the whole file, trailing newline removed
${file:/path:key}     the key of a Java properties file (key=value lines), as Kafka's FileConfigProvider reads it
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from core.errors import InvalidArgument
from gitops.model import SECRET_REF


def resolve(reference: str, *, base: Path, confine: Path | None = None) -> SecretStr:
    """The secret a reference points at; ``confine`` keeps file references inside one folder (the MCP tools)."""
    if not SECRET_REF.match(reference):
        raise InvalidArgument("A secret must be given as ${env:NAME}, ${file:/path} or ${file:/path:key}.")
    body = reference[2:-1]
    source, _, rest = body.partition(":")
    if source == "env":
        value = os.environ.get(rest)
        if value is None:
            raise InvalidArgument(f"{reference} is not set in the environment of this process.", hint=f"Export {rest}.")
        return SecretStr(value)
    path_text, _, prop = rest.partition(":")
    path = (base / path_text).resolve()
    if confine is not None and not path.is_relative_to(confine.resolve()):
        raise InvalidArgument(f"{reference} lies outside the platform folder, which this caller may read.")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"Cannot read {reference}: {exc.strerror}.") from None
    if not prop:
        return SecretStr(text.rstrip("\n"))
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and k.strip() == prop and not line.lstrip().startswith(("#", "!")):
            return SecretStr(v.strip())
    raise InvalidArgument(f"{reference}: the file has no key {prop!r}.")
