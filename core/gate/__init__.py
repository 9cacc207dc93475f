"""The one gate every change passes, whoever asks: modes, protected resources, policies, consent, the audit log.

A caller describes its change as a ``Change`` (the *real* resource: a topic is a topic whether a tool, a SQL
statement or the ksqlDB facade touches it) and hands the work to the gate as ``act(permit)``::

    result = gate.perform(change, lambda permit: topics.delete_topic(permit, admin, name, timeout=t),
                          requester=requester, consent=gate.consent_for(cluster, token=confirm_token),
                          effect="Delete topic 'orders' (12 partitions, ~3 000 000 records)")

Functions that change a cluster or a service take a ``Permit`` first and call ``permit.require(action, resource)``;
only the gate makes permits. A destructive change without consent raises ``ConsentRequired`` (with the preview to
show: a token in dev, a pending approval in production); a refusal raises ``Refused`` and is audited.

``Change.details``: the facts the policy rules read (``core.gate.policies``). Leave out what does not apply.

    profile                 production | staging | dev; default: the cluster's profile
    partitions              int, planned partition count (topic.create, topic.partitions.add)
    replication_factor      int
    configs                 dict[str, str], topic configs being set
    delete_configs          list[str], topic configs reset to their default
    current_configs         dict[str, str], the topic's configs before the change (for alters, when known)
    high_throughput         bool; False declares a low-volume topic (one partition is then fine)
    expected_msgs_per_sec   number; sizes the partition count (~5000 records/s per partition)
    producer_config         dict[str, str], librdkafka producer properties a tool will use or recommend
    durable                 bool, durability asked for the producer (default: yes in production/staging)
    consumer_config         dict[str, str], consumer properties
    critical                bool, the consumer handles critical data (default: yes in production/staging)
    compatible, reasons     for action "schema.register": bool from the registry's compatibility test, and its
    subject                 messages

``override_reason`` on the ``Change`` lets through refusals of rules marked overridable; the overridden rules and
the reason are written to the audit log. Every decision (refused, consent requested, approval requested, approved,
confirmed, declined, allowed) and every outcome is one JSON line in the audit log.
"""

from core.gate.change import SYSTEM, Change, Permit, Requester, redact
from core.gate.consent import (
    ApprovalConsent,
    AsyncConsent,
    Consent,
    ConsentPreview,
    ConsentRequired,
    Grant,
    Granted,
    NoConsent,
    Preapproved,
    StandingConsent,
    TokenConsent,
)
from core.gate.gate import CALL_WARNINGS, Gate

__all__ = [
    "CALL_WARNINGS",
    "SYSTEM",
    "ApprovalConsent",
    "AsyncConsent",
    "Change",
    "Consent",
    "ConsentPreview",
    "ConsentRequired",
    "Gate",
    "Grant",
    "Granted",
    "NoConsent",
    "Permit",
    "Preapproved",
    "Requester",
    "StandingConsent",
    "TokenConsent",
    "redact",
]
