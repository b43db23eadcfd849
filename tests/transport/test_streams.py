"""SSE and NDJSON decoders: any chunking of a body gives the events of the whole body."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closedpaw_nb.transport.streams import NDJSONDecoder, SSEDecoder, SSEEvent


def decode_all(body: bytes, cuts: list[int]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events, start = [], 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(body))) + [len(body)]:
        events += decoder.feed(body[start:cut])
        start = cut
    return events + decoder.flush()


def test_openai_style_data_only_events_and_done():
    body = b'data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n'
    assert [e.data for e in decode_all(body, [])] == ['{"a":1}', '{"a":2}', "[DONE]"]


def test_named_events_comments_and_multiline_data():
    body = b": ping\nevent: message_start\ndata: line1\ndata: line2\nid: 7\n\n:keepalive\n\nevent: ping\ndata: {}\n\n"
    events = decode_all(body, [])
    assert events == [SSEEvent("message_start", "line1\nline2", "7"), SSEEvent("ping", "{}")]


def test_crlf_and_bare_cr_line_endings():
    assert decode_all(b"data: x\r\n\r\ndata: y\r\rdata: z\n\n", []) == [
        SSEEvent(data="x"),
        SSEEvent(data="y"),
        SSEEvent(data="z"),
    ]


def test_one_leading_space_is_stripped_and_no_space_is_kept():
    assert decode_all(b"data:  two\n\ndata:none\n\n", []) == [SSEEvent(data=" two"), SSEEvent(data="none")]


def test_final_event_without_blank_line_is_flushed():
    assert decode_all(b"data: tail", []) == [SSEEvent(data="tail")]


def test_utf8_split_across_chunks():
    body = "data: héllo ✓\n\n".encode()
    for cut in range(1, len(body)):
        assert decode_all(body, [cut]) == [SSEEvent(data="héllo ✓")]


event_st = st.builds(
    SSEEvent,
    event=st.sampled_from(["message", "content_block_delta", "ping"]),
    data=st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30),
)


def encode(events: list[SSEEvent], newline: str) -> bytes:
    out = ""
    for e in events:
        if e.event != "message":
            out += f"event: {e.event}{newline}"
        out += f"data: {e.data}{newline}{newline}"
    return out.encode()


@pytest.mark.slow  # a property-based sweep: 200 examples (test_one_byte_chunks stays in the inner loop)
@settings(max_examples=200, deadline=None)
@given(
    st.lists(event_st, max_size=8),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
def test_any_chunking_gives_the_same_events(events, newline, cuts):
    body = encode(events, newline)
    assert decode_all(body, cuts) == decode_all(body, []) == events


def test_one_byte_chunks():
    events = [SSEEvent("a", "1"), SSEEvent(data="é"), SSEEvent("b", "x\ny")]
    body = b"event: a\ndata: 1\n\ndata: \xc3\xa9\n\nevent: b\ndata: x\ndata: y\n\n"
    assert decode_all(body, list(range(len(body)))) == events


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(alphabet='abc{}:" é', min_size=1, max_size=10).filter(str.strip), max_size=6),
    st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_ndjson_lines_survive_chunking(lines, cuts):
    body = "\n".join(lines).encode() + b"\n"
    decoder, out, start = NDJSONDecoder(), [], 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(body))) + [len(body)]:
        out += decoder.feed(body[start:cut])
        start = cut
    assert out + decoder.flush() == lines
