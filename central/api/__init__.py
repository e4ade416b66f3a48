"""Central's HTTP API (FastAPI): sites, readings, dispatches and their actions, reports, webhooks, commands."""
