"""The smallest possible MCP server with one tool: the floor for bench/startup.py."""

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("minimal")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    server.run("stdio")
