"""The translating proxy: serve the OpenAI (Chat Completions and Responses), Anthropic and
Gemini API shapes over any backend ChatBhumi supports (`pip install 'langchain-bhumi[proxy]'`).

```bash
langchain-bhumi serve --config proxy.toml          # see langchain_bhumi.proxy.config
langchain-bhumi serve --model llamacpp/qwen2.5 --base-url http://127.0.0.1:8080
```
"""

from langchain_bhumi.proxy.config import ProxyConfig, load_config, parse_config, single_backend

__all__ = ["ProxyConfig", "create_app", "load_config", "parse_config", "single_backend"]


def __getattr__(name: str) -> object:
    if name == "create_app":  # needs starlette: imported on use
        from langchain_bhumi.proxy.app import create_app

        return create_app
    raise AttributeError(name)
