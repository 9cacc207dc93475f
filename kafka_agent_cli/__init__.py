"""Operator commands that print tables to a terminal (`kafka-agent lag`, `kafka-agent streams`).

They live outside `mcp_server/` on purpose: nothing in the server package writes to stdout, which belongs to the
MCP protocol in stdio mode.
"""
