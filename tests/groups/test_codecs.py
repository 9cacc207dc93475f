"""Value encoding and decoding (pure logic, no cluster)."""

from __future__ import annotations

import base64

import pytest

from core.errors import InvalidArgument
from core.kafka.messages import decode_value, encode_value


def test_encode_formats() -> None:
    assert encode_value("héllo", "text") == "héllo".encode()
    assert encode_value({"a": [1, 2]}, "json") == b'{"a":[1,2]}'
    assert encode_value("AP8=", "base64") == b"\x00\xff"
    assert encode_value(None, "json") is None
    with pytest.raises(InvalidArgument, match="not valid base64"):
        encode_value("***", "base64")
    with pytest.raises(InvalidArgument, match="must be a string"):
        encode_value(3, "text")


def test_decode_auto_json_text_binary_and_cap() -> None:
    assert decode_value(b'{"x": 1}', "auto", cap=100).model_dump() == {
        "value": {"x": 1},
        "encoding": "json",
        "size": 8,
        "truncated": False,
    }
    assert decode_value(b'{"x": 1}', "text", cap=100).value == '{"x": 1}'
    assert decode_value(b"plain", "json", cap=100).encoding == "text"
    binary = decode_value(b"\x00\xff\xfe", "auto", cap=100)
    assert binary.encoding == "base64" and base64.b64decode(binary.value) == b"\x00\xff\xfe"
    # A cut inside a multi-byte character still yields text, shorter than the cap.
    cut = decode_value("ééé".encode(), "auto", cap=3)
    assert cut.encoding == "text" and cut.value == "é" and cut.truncated and cut.size == 6
    # A JSON document cut at the cap is returned as (truncated) text, never as broken JSON.
    long_json = decode_value(b'{"k": "' + b"v" * 50 + b'"}', "auto", cap=10)
    assert long_json.encoding == "text" and long_json.truncated and long_json.value == '{"k": "vvv'
    assert decode_value(None, "auto", cap=10).encoding == "null"
