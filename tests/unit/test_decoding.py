"""The frame rules every wire format's decoder shares (`core.decoding.json_frame`)."""

from __future__ import annotations

import pytest

from langchain_bhumi.core.errors import InvalidStreamDataError, StreamErrorEvent
from langchain_bhumi.core.events import StreamEvent
from langchain_bhumi.core.framing import Frame
from langchain_bhumi.protocols import client_formats, get_protocol

FORMATS = client_formats()


def feed(wire_format: str, data: str, event: str = "message") -> list[StreamEvent]:
    return get_protocol(wire_format).stream_decoder().feed([Frame(event=event, data=data)])


@pytest.mark.parametrize("wire_format", FORMATS)
def test_a_frame_that_is_not_json_is_invalid_stream_data_quoting_it(wire_format: str) -> None:
    with pytest.raises(InvalidStreamDataError, match="not valid JSON") as raised:
        feed(wire_format, "<html>Bad gateway</html>")
    assert raised.value.data == "<html>Bad gateway</html>"


@pytest.mark.parametrize("wire_format", FORMATS)
def test_plain_text_under_event_error_is_the_servers_error(wire_format: str) -> None:
    with pytest.raises(StreamErrorEvent) as raised:
        feed(wire_format, "upstream connect error", event="error")
    assert raised.value.error_type is None
    assert raised.value.error_message == "upstream connect error"


@pytest.mark.parametrize("wire_format", FORMATS)
def test_json_that_is_not_an_object_is_invalid_stream_data(wire_format: str) -> None:
    with pytest.raises(InvalidStreamDataError, match="not a JSON object"):
        feed(wire_format, "[1, 2]")


@pytest.mark.parametrize("wire_format", ["gemini", "openai_responses"])
def test_openais_done_marker_is_tolerated_in_other_formats(wire_format: str) -> None:
    assert feed(wire_format, " [DONE]") == []
    assert feed(wire_format, "[DONE]", event="error") == []
