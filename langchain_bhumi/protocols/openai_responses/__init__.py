"""OpenAI `/v1/responses` (the Responses API): the client direction (`client.py`) and the
proxy frontend that serves it (`server.py`, for the codex CLI and the openai SDK's
`client.responses`)."""
