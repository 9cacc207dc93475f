"""The single gate every change passes: modes, protected resources, policies, consent and the audit log.

A mutating tool describes its change as a ``Change`` and calls the gate before it acts:

- ``Safety.authorize(change, confirm_token=..., effect=...)`` (sync):
  refused outright (read-only mode, allow/deny lists, a protected topic, a policy rule) -> a ``Refused`` error;
  a destructive change without a valid confirmation token -> a ``ConsentPreview`` the tool returns instead of acting;
  otherwise ``None``: go ahead, then ``Safety.record`` the outcome in the audit log.
- ``await Safety.confirm(ctx, change, confirm_token=..., effect=...)``: the same, but for a destructive change it
  asks the person through MCP elicitation when the client supports it (they type the resource's name). It may also
  return an ``InputRequiredResult``, which the tool returns as is (2026-07-28 clients answer and retry)::

      outcome = await app.safety.confirm(ctx, change, confirm_token=confirm_token, effect=effect)
      if isinstance(outcome, ConsentPreview):
          return DeleteThingOutcome(executed=False, consent=outcome)
      if outcome is not None:
          return outcome  # the question for the person; declare `-> DeleteThingOutcome | InputRequiredResult`

``Change.details``: the facts the policy rules read (``mcp_server.safety.policies``). Leave out what does not apply.

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
    subject                 messages; the registry tool calls the gate with
                            Change(action="schema.register", resource_type="schema", resources=[subject],
                                   details={"compatible": False, "reasons": [...], "subject": subject})

``override_reason`` on the ``Change`` lets through refusals of rules marked overridable; the overridden rules and
the reason are written to the audit log. Every decision (refused, consent requested, confirmed, declined, allowed)
is one JSON line in the audit log (``KAFKA_AGENT_AUDIT_LOG``, default ``<data_dir>/audit.jsonl``).
"""

from mcp_server.safety.gate import Change, ConsentPreview, Safety

__all__ = ["Change", "ConsentPreview", "Safety"]
