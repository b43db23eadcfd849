"""Message parts: images from every kind of source with their type read from the bytes,
clear errors for what no provider takes, and ChatMessage unchanged in the seed's form.
Also: capabilities refuse images, formats and tools before anything is sent."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

import closedpaw_nb as cp
import closedpaw_nb.content as content_module
from closedpaw_nb import ChatMessage, ChatResponse, ConfigError, ImagePart, ProviderConfig, TextPart, image
from closedpaw_nb.manager import ProviderManager
from closedpaw_nb.providers import BaseProvider
from closedpaw_nb.providers.base import normalize_messages
from closedpaw_nb.tools import ToolCall


def png(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


SAMPLES = {
    "image/png": png(),
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20,
    "image/gif": b"GIF89a\x01\x00\x01\x00" + b"\x00" * 20,
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
}


@pytest.mark.parametrize("media_type", sorted(SAMPLES))
def test_the_media_type_comes_from_the_bytes(media_type, tmp_path):
    data = SAMPLES[media_type]
    assert image(data).media_type == media_type
    path = tmp_path / "picture.bin"  # the name says nothing: the bytes decide
    path.write_bytes(data)
    assert image(path).media_type == media_type
    assert image(str(path)).data == data


@pytest.mark.parametrize(
    ("data", "named"),
    [(b"BM" + b"\x00" * 30, "BMP"), (b"%PDF-1.7" + b"\x00" * 20, "PDF"), (b"hello world, not an image", "recognise")],
)
def test_an_unsupported_type_is_a_clear_error_naming_the_supported_ones(data, named):
    with pytest.raises(ConfigError, match=f"{named}.*supported types are PNG, JPEG, GIF and WebP"):
        image(data)


def test_oversize_images_are_refused_with_the_limit_and_how_to_raise_it(tmp_path, monkeypatch):
    data = png(64, 64)
    with pytest.raises(ConfigError, match=r"over the 0\.0 MB limit.*max_bytes="):
        image(data, max_bytes=10)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match="max_bytes"):
        image(path, max_bytes=10)
    assert image(data, max_bytes=len(data)).data == data
    monkeypatch.setattr(content_module, "MAX_IMAGE_BYTES", 10)  # the module default is read at call time
    with pytest.raises(ConfigError, match="MAX_IMAGE_BYTES"):
        image(data)


def test_base64_and_data_urls_round_trip():
    part = image(SAMPLES["image/png"])
    assert base64.b64decode(part.base64()) == SAMPLES["image/png"]
    assert part.data_url().startswith("data:image/png;base64,")
    again = image(part.data_url())
    assert again == part and not again.is_url
    urlsafe = "data:image/png;base64," + base64.urlsafe_b64encode(SAMPLES["image/png"]).decode()
    assert image(urlsafe).data == SAMPLES["image/png"]  # Gemini's SDK alphabet
    with pytest.raises(ConfigError, match="must be base64"):
        image("data:image/png,rawbytes")
    with pytest.raises(ConfigError, match="does not decode"):
        image("data:image/png;base64,@@@")


def test_https_urls_stay_urls_and_other_schemes_are_refused():
    part = image("https://example.com/charts/a.jpg?x=1", detail="low")
    assert part.is_url and part.media_type == "image/jpeg" and part.data is None
    assert part.to_dict() == {"type": "image_url", "image_url": {"url": part.url, "detail": "low"}}
    assert image("https://example.com/chart").media_type is None
    with pytest.raises(ConfigError, match="has no base64 form"):
        part.base64()
    with pytest.raises(ConfigError, match="https:// or data:"):
        image("http://example.com/a.png")
    with pytest.raises(ConfigError, match="not found"):
        image("no/such/file.png")
    with pytest.raises(TypeError, match="image\\(\\) takes bytes"):
        image(12)


def test_pil_images_are_accepted_when_pillow_is_installed():
    pil = pytest.importorskip("PIL.Image")
    picture = pil.new("RGB", (3, 2), (0, 128, 255))
    part = image(picture)
    assert part.media_type == "image/png"
    assert pil.open(__import__("io").BytesIO(part.data)).size == (3, 2)
    assert image(picture.convert("RGB"), max_bytes=10**6).media_type == "image/png"
    assert ImagePart.from_pil(picture, format="JPEG").media_type == "image/jpeg"


def test_the_repr_never_prints_the_bytes():
    assert repr(image(png(32, 32))).startswith("ImagePart(image/png, ") and "\\x" not in repr(image(png()))


# -- ChatMessage ------------------------------------------------------------------------------


def test_the_seed_form_is_unchanged():
    message = ChatMessage("user", "hi")
    assert message == ChatMessage(role="user", content="hi")
    assert message.to_dict() == {"role": "user", "content": "hi"}
    assert repr(message) == "ChatMessage(role='user', content='hi')"
    assert message.text == "hi" and message.images == []
    assert len({message, ChatMessage("user", "hi")}) == 1
    with pytest.raises(ValueError, match="role must be one of"):
        ChatMessage("robot", "hi")
    with pytest.raises(TypeError, match="must be a str or a list of parts"):
        ChatMessage("user", 42)


def test_a_message_stays_a_frozen_dataclass():
    import copy
    import dataclasses
    import pickle

    message = ChatMessage("user", "hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.role = "system"  # type: ignore[misc]
    assert dataclasses.replace(message, content="bye") == ChatMessage("user", "bye")
    assert pickle.loads(pickle.dumps(message)) == message == copy.deepcopy(message)
    names = [f.name for f in dataclasses.fields(ChatMessage)]
    assert names == ["role", "content", "tool_call_id", "name", "tool_calls"]
    assert dataclasses.asdict(message) == {
        "role": "user",
        "content": "hi",
        "tool_call_id": None,
        "name": None,
        "tool_calls": (),
    }

    class Label(str):
        pass

    assert ChatMessage("user", Label("hi")).content == "hi"  # a str subclass is text, not parts


def test_messages_with_parts():
    picture = image(SAMPLES["image/gif"])
    message = ChatMessage("user", ["What is", picture, TextPart("this?")])
    assert message.content == [TextPart("What is"), picture, TextPart("this?")]
    assert message.text == "What is\nthis?" and message.images == [picture]
    assert message.to_dict()["content"][1] == {"type": "image_url", "image_url": {"url": picture.data_url()}}
    assert hash(message) == hash(ChatMessage("user", ["What is", picture, "this?"]))
    with pytest.raises(TypeError, match="content part 1 must be a TextPart"):
        ChatMessage("user", ["a", 3])
    with pytest.raises(ValueError, match="empty list"):
        ChatMessage("user", [])
    with pytest.raises(ValueError, match="content part 0: expected"):
        ChatMessage("user", [{"type": "audio"}])


def test_tool_turns():
    call = ToolCall("call_1", "get_weather", {"city": "Paris"})
    assistant = ChatMessage("assistant", "", tool_calls=[call])
    assert assistant.tool_calls == (call,)
    assert assistant.to_dict()["tool_calls"] == [
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    result = ChatMessage(role="tool", content="18C", tool_call_id="call_1", name="get_weather")
    assert result.to_dict() == {"role": "tool", "content": "18C", "tool_call_id": "call_1", "name": "get_weather"}
    with pytest.raises(ValueError, match="needs the tool_call_id"):
        ChatMessage("tool", "18C")
    with pytest.raises(ValueError, match="only an assistant"):
        ChatMessage("user", "x", tool_calls=[call])
    openai_shaped = {"id": "c2", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    assert ChatMessage("assistant", "", tool_calls=[openai_shaped]).tool_calls[0] == ToolCall("c2", "f", {"a": 1})


def test_normalize_messages_takes_openai_style_list_content_and_tool_fields():
    url = image(SAMPLES["image/png"]).data_url()
    messages = normalize_messages(
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}}],
            },
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "name": "f", "arguments": {}}]},
            {"role": "tool", "content": "done", "tool_call_id": "c1"},
        ]
    )
    assert messages[0].images[0].data == SAMPLES["image/png"] and messages[0].text == "look"
    assert messages[1].tool_calls[0].id == "c1" and messages[2].tool_call_id == "c1"
    assert normalize_messages(messages) == messages  # and back: to_dict() is accepted again
    assert normalize_messages([m.to_dict() for m in messages]) == messages
    with pytest.raises(ConfigError, match="bad message"):
        normalize_messages([{"role": "user", "content": [{"type": "video"}]}])


# -- capabilities: refused before anything is sent -----------------------------------------


class Recording(BaseProvider):
    """A guide-style provider (declares nothing) that records what chat() received."""

    calls: list[tuple[list[ChatMessage], dict]] = []

    async def chat(self, messages, model=None, **kwargs):
        Recording.calls.append((messages, kwargs))
        text = " ".join(m.content.upper() for m in messages)  # reads content as a str, as the guide does
        return ChatResponse(content=text or "-", model=model or "m", provider=self.name, latency_ms=1.0)


class Seeing(Recording):
    capabilities = frozenset({"text", "images", "structured", "tools"})

    async def chat(self, messages, model=None, **kwargs):
        Recording.calls.append((messages, kwargs))
        return ChatResponse(content='{"a": 1}', model="m", provider=self.name, latency_ms=1.0)


@pytest.fixture
def manager():
    Recording.calls = []
    manager = ProviderManager()
    manager.register_provider(ProviderConfig("custom", name="plain", default_model="m"), provider_class=Recording)
    manager.register_provider(ProviderConfig("custom", name="seeing", default_model="m"), provider_class=Seeing)
    return manager


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"messages": [ChatMessage("user", ["see", image(SAMPLES["image/png"])])]}, "images"),
        ({"response_format": {"type": "object"}}, "structured"),
        ({"tools": [{"name": "f", "parameters": {"type": "object"}}]}, "tools"),
        ({"messages": [ChatMessage("tool", "18C", tool_call_id="c1")]}, "tools"),
    ],
)
async def test_what_a_provider_does_not_declare_is_refused_before_sending(manager, kwargs, what):
    messages = kwargs.pop("messages", "hi")
    with pytest.raises(ConfigError, match=f"not sent: Recording 'plain' .*does not support {what}"):
        await manager.chat(messages, provider="plain", **kwargs)
    with pytest.raises(ConfigError, match=f"does not support {what}"):
        await manager.stream(messages, provider="plain", **kwargs).get_response()
    assert Recording.calls == []


async def test_a_guide_style_provider_gets_text_only_parts_as_a_string(manager):
    response = await manager.chat([ChatMessage("user", ["a", TextPart("b")])], provider="plain")
    assert response.content == "A\nB"
    assert Recording.calls[0][0] == [ChatMessage("user", "a\nb")] and Recording.calls[0][1] == {}


async def test_a_model_can_lack_what_its_provider_has(manager):
    class PerModel(Seeing):
        def model_capabilities(self, model):
            return frozenset({"text"}) if model == "small" else self.capabilities

    manager.register_provider(ProviderConfig("custom", name="per-model", default_model="m"), provider_class=PerModel)
    with pytest.raises(ConfigError, match="model 'small'.*does not support structured"):
        await manager.chat("hi", provider="per-model", model="small", response_format="json")
    assert (await manager.chat("hi", provider="per-model", model="big", response_format="json")).parsed == {"a": 1}


async def test_declared_capabilities_receive_the_neutral_types(manager):
    from closedpaw_nb.structured import ResponseFormat
    from closedpaw_nb.tools import Tool, ToolChoice

    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    picture = image(SAMPLES["image/png"])
    response = await manager.chat(
        [ChatMessage("user", ["see", picture])],
        provider="seeing",
        response_format={"type": "object", "properties": {"a": {"type": "integer"}}},
        tools=[lookup],
        tool_choice="lookup",
        temperature=0.5,
    )
    messages, kwargs = Recording.calls[-1]
    assert messages[0].images == [picture]
    assert isinstance(kwargs["response_format"], ResponseFormat) and kwargs["response_format"].kind == "json_schema"
    assert [type(t) for t in kwargs["tools"]] == [Tool] and kwargs["tools"][0].name == "lookup"
    assert kwargs["tool_choice"] == ToolChoice("required", "lookup") and kwargs["temperature"] == 0.5
    assert response.parsed == {"a": 1} and response.parse_error is None  # filled from the text by the guard
    streamed = await manager.stream("hi", provider="seeing", response_format="json").get_response()
    assert streamed.parsed == {"a": 1}


async def test_bad_options_are_config_errors_before_sending(manager):
    with pytest.raises(ConfigError, match="tool_choice was given without tools"):
        await manager.chat("hi", provider="seeing", tool_choice="auto")
    with pytest.raises(ConfigError, match="not a valid JSON schema"):
        await manager.chat("hi", provider="seeing", response_format={"type": "no-such-type"})
    with pytest.raises(ConfigError, match="not among the tools"):
        await manager.chat(
            "hi", provider="seeing", tools=[{"name": "f", "parameters": {"type": "object"}}], tool_choice="g"
        )
    assert Recording.calls == []


def test_chat_options_accept_the_new_names():
    from closedpaw_nb import ChatOptions

    options = ChatOptions.from_kwargs(response_format="json", tools=[{"name": "f", "parameters": {"type": "object"}}])
    assert options.response_format.kind == "json" and options.tools[0].name == "f" and options.tool_choice is None
    assert ChatOptions.from_kwargs().tools == ()


@pytest.mark.parametrize("name", ["temperature", "top_p"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_sampling_knob_that_json_cannot_carry_is_a_config_error(name, value):
    from closedpaw_nb import ChatOptions

    with pytest.raises(ConfigError, match=f"{name} must be a finite number"):
        ChatOptions.from_kwargs(**{name: value})


def test_the_top_level_names_are_exported():
    assert cp.image is image and cp.TextPart is TextPart and cp.ToolCall is ToolCall
