"""Describing a group asks again while its coordinator loads or moves (pure logic on librdkafka's own errors)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from core.kafka.groups import _coordinator_moving


def test_coordinator_errors_are_asked_again_others_are_answers() -> None:
    for code in (
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
    ):
        assert _coordinator_moving(KafkaException(KafkaError(code)))
    for code in (KafkaError.GROUP_ID_NOT_FOUND, KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError._TIMED_OUT):
        assert not _coordinator_moving(KafkaException(KafkaError(code)))
    assert not _coordinator_moving(ValueError("not a Kafka error"))
    assert not _coordinator_moving(KafkaException())
