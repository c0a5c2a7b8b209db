"""The framework-free streaming core: transport, framing, events, tool-call assembly, errors.

Nothing here imports LangChain; the proxy and other frontends reuse it as is.
"""
