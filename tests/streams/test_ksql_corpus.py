"""The ksqlDB corpus (tests/streams/ksql_corpus.py): every statement ksqlDB documents that the engine supports gives
the result computed independently from the input records; every one it does not support is refused with an error
naming the construct; and the supported share stays at or above 85 %."""

from __future__ import annotations

from typing import Any

import pytest

from tests.streams.ksql_corpus import CASES, evaluate, share

GOAL = 0.85


@pytest.fixture(scope="module")
def outcomes(runner_built: None) -> list[Any]:
    return evaluate()


def test_the_corpus_is_large_and_documented() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.doc for c in CASES)


def test_every_supported_statement_gives_the_independently_computed_result(outcomes: list[Any]) -> None:
    wrong = [f"{o.case.id}: {o.detail}" for o in outcomes if o.case.unsupported is None and not o.ok]
    assert not wrong, "\n".join(wrong)


def test_every_unsupported_statement_is_refused_naming_the_construct(outcomes: list[Any]) -> None:
    unclear = [f"{o.case.id}: {o.detail}" for o in outcomes if o.case.unsupported is not None and not o.ok]
    assert not unclear, "\n".join(unclear)


def test_the_supported_share_meets_the_goal(outcomes: list[Any]) -> None:
    supported, total = share(outcomes)
    assert supported / total >= GOAL, f"{supported}/{total} supported"
