"""Gemini `:generateContent` / `:streamGenerateContent`: the client direction
(`client.py`), the proxy frontend (`server.py`) and the JSON-schema dialect both share
(`schema.py`)."""
