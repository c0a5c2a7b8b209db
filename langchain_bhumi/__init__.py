"""langchain-bhumi: one LangChain chat model for every LLM provider.

```python
from langchain_bhumi import ChatBhumi

llm = ChatBhumi(model="openai/gpt-4o-mini")
```
"""

from langchain_bhumi._version import __version__
from langchain_bhumi.chat_models import ChatBhumi
from langchain_bhumi.core.errors import (
    AuthenticationError,
    BadRequestError,
    BhumiConnectionError,
    BhumiError,
    BhumiTimeoutError,
    BrokenStreamError,
    ConfigurationError,
    ContentBlockedError,
    InvalidStreamDataError,
    MissingAPIKeyError,
    NotFoundError,
    ProviderHTTPError,
    RateLimitError,
    ServerError,
    StreamCutError,
    StreamErrorEvent,
    UnexpectedContentTypeError,
)
from langchain_bhumi.providers import PROVIDERS, ProviderSpec

__all__ = [
    "PROVIDERS",
    "AuthenticationError",
    "BadRequestError",
    "BhumiConnectionError",
    "BhumiError",
    "BhumiTimeoutError",
    "BrokenStreamError",
    "ChatBhumi",
    "ConfigurationError",
    "ContentBlockedError",
    "InvalidStreamDataError",
    "MissingAPIKeyError",
    "NotFoundError",
    "ProviderHTTPError",
    "ProviderSpec",
    "RateLimitError",
    "ServerError",
    "StreamCutError",
    "StreamErrorEvent",
    "UnexpectedContentTypeError",
    "__version__",
]
