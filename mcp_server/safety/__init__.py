"""The single gate every change passes: modes, protected resources, policies, consent and the audit log.

A mutating tool describes its change as a ``Change`` and calls ``Safety.authorize`` before it acts:

- refused outright (read-only mode, a protected resource, a policy violation) -> a ``Refused`` error;
- a destructive change without a valid confirmation -> a ``ConsentPreview`` the tool returns instead of acting;
- otherwise ``None``: go ahead, then ``Safety.record`` the outcome in the audit log.
"""

from mcp_server.safety.gate import Change, ConsentPreview, Safety

__all__ = ["Change", "ConsentPreview", "Safety"]
