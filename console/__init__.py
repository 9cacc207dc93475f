"""The console: web pages for people (overview, topics, groups and lag over time, agent runs, approvals, audit log,
memory search), served by ``kafka-agent serve --transport http`` at ``/ui`` and by ``kafka-agent console`` alone.

app.py        the Starlette app: login, templates, the guard, the mount beside the MCP endpoint
pages.py      the pages: what each route reads and which template shows it
security.py   Host/Origin checks (as the MCP endpoint), login sessions (HttpOnly cookie) or the bearer token, CSRF
views.py      what each page shows, read from the cluster and the data folder (blocking calls off the event loop)
sampler.py    the in-process lag sampler behind the lag charts (and the health snapshot of the overview)
readers.py    the audit log and run records, read with filters
templates/    Jinja2, autoescaped everywhere: no record, argument or result is ever rendered as HTML
static/       htmx and uPlot (vendored, with their licences), our CSS and the chart script; no build step

The console changes nothing in a cluster. Its one write is a person's decision on a pending approval
(``core.gate.approvals.decide``: audited with the person's name); read-only mode hides and refuses it.
"""
