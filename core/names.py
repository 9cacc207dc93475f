"""Names checked by Kafka's own rules (and ours where they end up in URLs or file paths), before any work is done.

    topic          1-249 of [a-zA-Z0-9._-], not "." or ".."            (Kafka's Topic.validate)
    group id       1-255 characters, no control characters             (ours: Kafka accepts any string)
    cluster        1-63 of [a-z0-9_-], starting with a letter or digit  (a configured cluster's name)
    application    1-100 of [a-zA-Z0-9._-], starting with a letter or digit (stream apps: a folder is named after it)
    connector      1-255 characters, no control characters and no '/'  (it is a path segment of Connect's REST API)
    subject        1-255 characters, no control characters

Each ``check_*`` returns the name or raises ``InvalidArgument`` saying what is allowed (the name is cut short in
the message: a 100 000-character input is not echoed back).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from core.errors import InvalidArgument

Check = Callable[[str], str]

TOPIC_MAX = 249
TOPIC_PATTERN = r"^[a-zA-Z0-9._-]+$"
GROUP_MAX = 255
CONTROL_FREE_PATTERN = r"^[^\x00-\x1f\x7f]+$"
CLUSTER_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
APP_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$"
CONNECTOR_PATTERN = r"^[^\x00-\x1f\x7f/]+$"

_TOPIC = re.compile(TOPIC_PATTERN)
_CONTROL_FREE = re.compile(CONTROL_FREE_PATTERN)
_APP = re.compile(APP_PATTERN)
_CONNECTOR = re.compile(CONNECTOR_PATTERN)


def shown(value: object, limit: int = 60) -> str:
    """``repr`` of a value cut to ``limit`` characters, for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_topic(name: str) -> str:
    if not name or len(name) > TOPIC_MAX or not _TOPIC.match(name) or name in (".", ".."):
        raise InvalidArgument(
            f"Topic name {shown(name)} is not valid: a topic name is 1 to {TOPIC_MAX} characters of letters, digits, "
            "'.', '_' and '-', and not '.' or '..'."
        )
    return name


def check_group(group: str) -> str:
    if not group or len(group) > GROUP_MAX or not _CONTROL_FREE.match(group):
        raise InvalidArgument(
            f"Consumer group id {shown(group)} is not valid: 1 to {GROUP_MAX} characters, no control characters."
        )
    return group


def check_app(name: str) -> str:
    if not _APP.match(name or ""):
        raise InvalidArgument(
            f"Application name {shown(name)} is not valid: 1 to 100 characters of letters, digits, '.', '_' and '-', "
            "starting with a letter or digit."
        )
    return name


def check_connector(name: str) -> str:
    if not name or len(name) > 255 or not _CONNECTOR.match(name):
        raise InvalidArgument(
            f"Connector name {shown(name)} is not valid: 1 to 255 characters, no '/' and no control characters."
        )
    return name


def check_subject(subject: str) -> str:
    if not subject or len(subject) > 255 or not _CONTROL_FREE.match(subject):
        raise InvalidArgument(f"Subject {shown(subject)} is not valid: 1 to 255 characters, no control characters.")
    return subject
