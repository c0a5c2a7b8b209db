"""OpenAI `/chat/completions`: OpenAI and every OpenAI-compatible server (`client.py`),
and the proxy frontend that serves it (`server.py`)."""
