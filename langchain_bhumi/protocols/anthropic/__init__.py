"""Anthropic `/v1/messages`: the client direction (`client.py`) and the proxy frontend
that serves it (`server.py`)."""
