"""The agent runtime: an LLM (anthropic SDK) that operates Kafka through our MCP tools, one phase at a time.

runner.py       Agent: the run loop, the approval policy, resume from a saved record
phases.py       PLAN -> VALIDATE -> EXECUTE -> VERIFY -> DOCUMENT and which calls each allows
local_tools.py  agent_advance_phase, agent_delegate, agent_escalate (offered to the model by the runtime)
host.py         ToolHub: MCP client sessions to our server (in process or stdio) and to extra servers
model.py        one streamed Messages API turn
request.py      what a turn sends: the phase's tools (or tool search), cache breakpoints, the size estimate
budget.py       the run's limits (turns, uncached input, output), checked before each turn
record.py       RunRecord (saved as JSON under <data_dir>/runs) and usage/cost
delegation.py   peers in process or over Kafka; escalations
worker.py       `kafka-agent worker`: a peer serving agents.<peer>.tasks as a consumer-group member
prompts.py      the system prompts in prompts/
cli/            `kafka-agent chat`, `run`, `worker`
"""
