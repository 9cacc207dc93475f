"""The incident book: confirmation, updates, resolution, and rules a sample could not judge."""

from __future__ import annotations

from monitoring.incidents import IncidentBook
from monitoring.rules import Finding


def finding(summary: str = "Broker 2 is down.", *, confirm: int = 2, rule: str = "broker_down") -> Finding:
    return Finding(rule, "broker 2", "critical", summary, {"broker": 2}, confirm=confirm)


def test_opens_after_confirmation_updates_and_resolves() -> None:
    book = IncidentBook(clear=2)
    assert book.step("c", [finding()], now=1.0) == []
    (event, inc) = book.step("c", [finding()], now=2.0)[0]
    assert event == "opened" and inc.subject == "broker 2" and inc.first_seen_at == 1.0 and inc.detection_delay_s == 1
    assert book.step("c", [finding()], now=3.0) == []  # same summary: nothing to write
    (event, inc) = book.step("c", [finding("Broker 2 is down: fenced.")], now=4.0)[0]
    assert event == "updated" and inc.summary.endswith("fenced.")
    assert book.step("c", [], now=5.0) == []
    (event, inc) = book.step("c", [], now=6.0)[0]
    assert event == "resolved" and inc.status == "resolved" and inc.resolved_at == 6.0
    assert [e.what.split(":")[0] for e in inc.timeline] == ["opened", "updated", "resolved"]
    assert book.open_incidents() == []


def test_a_blip_never_opens_and_an_unjudged_rule_is_not_cleared() -> None:
    book = IncidentBook(clear=1)
    book.step("c", [finding()], now=1.0)
    book.step("c", [], now=2.0)
    assert book.step("c", [finding()], now=3.0) == []  # counting starts again
    book.step("c", [finding(confirm=1, rule="consumer_lag")], now=4.0)
    assert book.step("c", [], now=5.0, rules_seen={"broker_down"}) == []  # lag not sampled: stays open
    assert [i.rule for i in book.open_incidents("c")] == ["consumer_lag"]


def test_adopted_incidents_are_resolved_by_the_new_owner() -> None:
    old = IncidentBook(clear=1)
    (_, inc) = old.step("c", [finding(confirm=1)], now=1.0)[0]
    new = IncidentBook(clear=1)
    new.adopt([inc])
    (event, done) = new.step("c", [], now=2.0)[0]
    assert event == "resolved" and done.id == inc.id
