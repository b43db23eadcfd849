"""Message parts: the text and images a `ChatMessage` can carry besides a plain string.

The parts are provider-neutral records. An `ImagePart` holds either the image's bytes
(with the media type read from its magic numbers, never trusted from a file name) or an
https URL that is passed on unfetched; each provider turns it into its own wire form at
its edge (OpenAI/Mistral `image_url`, Anthropic `image` source blocks, Gemini
`inlineData`, Ollama `images`) using `base64()`, `data_url()` or `url`. `to_dict()` gives
the OpenAI-style part, which `normalize_messages` also accepts back.

Pure apart from `ImagePart.from_file`, which reads the file; pillow is used only when a
`PIL.Image` is given, and never imported otherwise.
"""

from __future__ import annotations

import base64 as b64
import binascii
import mimetypes
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "MAX_IMAGE_BYTES",
    "SUPPORTED_IMAGE_TYPES",
    "ImagePart",
    "Part",
    "TextPart",
    "as_parts",
    "detect_media_type",
    "image",
]

# 20 MB: the smallest per-image limit the five APIs document (OpenAI's older text, Gemini's
# inline request). Read at call time, so `closedpaw_nb.content.MAX_IMAGE_BYTES = ...` works.
MAX_IMAGE_BYTES = 20 * 1024 * 1024

SUPPORTED_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

# Formats we recognise only to name them in the error (no provider takes all of them).
_KNOWN_UNSUPPORTED = ((b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"%PDF", "PDF"))


def detect_media_type(data: bytes) -> str:
    """The media type of image bytes, from their magic numbers.

    Raises:
        ConfigError: the bytes are not PNG, JPEG, GIF or WebP.
    """
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    seen = next((name for magic, name in _KNOWN_UNSUPPORTED if head.startswith(magic)), None)
    if seen is None and head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        seen = "HEIC"
    what = f"a {seen} file" if seen else "not an image type we recognise"
    raise ConfigError(f"unsupported image: {what}; supported types are PNG, JPEG, GIF and WebP")


@dataclass(frozen=True)
class TextPart:
    """A piece of text in a message with parts.

    Attributes:
        text: The text.
    """

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"TextPart.text must be a str, got {type(self.text).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-style part: `{"type": "text", "text": ...}`."""
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, repr=False)
class ImagePart:
    """An image in a message: inline bytes or an https URL (build one with `image()`).

    Attributes:
        media_type: "image/png", "image/jpeg", "image/gif" or "image/webp"; for a URL,
            guessed from its path and None when the path does not say.
        data: The image bytes (None for a URL image).
        url: The https URL (None for inline bytes).
        detail: OpenAI/Mistral's "auto", "low" or "high"; other APIs ignore it.
    """

    media_type: str | None
    data: bytes | None = None
    url: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("an ImagePart holds either data (bytes) or an https url, not both or neither")
        if self.detail not in (None, "auto", "low", "high"):
            raise ValueError(f"detail must be 'auto', 'low' or 'high', got {self.detail!r}")

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int | None = None, detail: str | None = None) -> ImagePart:
        """An inline image; its type comes from the bytes' magic numbers.

        Raises:
            ConfigError: an unsupported type, or more than `max_bytes` (default `MAX_IMAGE_BYTES`).
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"image bytes must be bytes, got {type(data).__name__}")
        data = bytes(data)
        _check_size(len(data), max_bytes)
        return cls(detect_media_type(data), data=data, detail=detail)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, max_bytes: int | None = None, detail: str | None = None
    ) -> ImagePart:
        """An inline image read from a file (the size is checked before reading)."""
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"image file not found: {file}")
        _check_size(file.stat().st_size, max_bytes)
        return cls.from_bytes(file.read_bytes(), max_bytes=max_bytes, detail=detail)

    @classmethod
    def from_pil(
        cls, picture: Any, *, format: str = "PNG", max_bytes: int | None = None, detail: str | None = None
    ) -> ImagePart:
        """An inline image encoded from a `PIL.Image.Image` (PNG by default, lossless)."""
        import io

        buffer = io.BytesIO()
        picture.save(buffer, format=format)
        return cls.from_bytes(buffer.getvalue(), max_bytes=max_bytes, detail=detail)

    @classmethod
    def from_url(cls, url: str, *, max_bytes: int | None = None, detail: str | None = None) -> ImagePart:
        """An image from an https URL (kept as a URL) or a `data:` URL (decoded to bytes)."""
        if url.startswith("data:"):
            return cls.from_bytes(_decode_data_url(url), max_bytes=max_bytes, detail=detail)
        if not url.startswith("https://"):
            raise ConfigError(f"an image URL must be https:// or data:, got {url[:40]!r}")
        guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
        return cls(guessed if guessed in SUPPORTED_IMAGE_TYPES else None, url=url, detail=detail)

    @property
    def is_url(self) -> bool:
        """True for an https URL image (no bytes here: the provider fetches it)."""
        return self.url is not None

    def base64(self) -> str:
        """The bytes in standard base64, without a `data:` prefix (Anthropic, Gemini, Ollama)."""
        if self.data is None:
            raise ConfigError(f"this image is a URL ({self.url}), not bytes: it has no base64 form")
        return b64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """`data:<type>;base64,...` (OpenAI/Mistral inline images)."""
        return f"data:{self.media_type};base64,{self.base64()}"

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-style part: `{"type": "image_url", "image_url": {"url": ...}}`."""
        image_url: dict[str, Any] = {"url": self.url if self.url is not None else self.data_url()}
        if self.detail is not None:
            image_url["detail"] = self.detail
        return {"type": "image_url", "image_url": image_url}

    def __repr__(self) -> str:
        # Never the bytes: a notebook would print megabytes.
        where = self.url if self.url is not None else f"{len(self.data or b'')} bytes"
        return f"ImagePart({self.media_type}, {where})"


Part = TextPart | ImagePart


def image(source: Any, *, max_bytes: int | None = None, detail: str | None = None) -> ImagePart:
    """An `ImagePart` from bytes, a file path, a `PIL.Image`, an https URL or a `data:` URL.

    Args:
        source: The image. A str is a URL when it starts with "https://" or "data:",
            else a file path.
        max_bytes: Size limit for this image (default `MAX_IMAGE_BYTES`).
        detail: OpenAI/Mistral's "auto", "low" or "high".

    Raises:
        ConfigError: unsupported type, too large, missing file or a bad URL.
        TypeError: `source` is none of the above.
    """
    if isinstance(source, ImagePart):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return ImagePart.from_bytes(bytes(source), max_bytes=max_bytes, detail=detail)
    if isinstance(source, str) and source.startswith(("https://", "http://", "data:")):
        return ImagePart.from_url(source, max_bytes=max_bytes, detail=detail)
    if isinstance(source, (str, os.PathLike)):
        return ImagePart.from_file(source, max_bytes=max_bytes, detail=detail)
    if _is_pil_image(source):
        return ImagePart.from_pil(source, max_bytes=max_bytes, detail=detail)
    raise TypeError(
        f"image() takes bytes, a file path, a PIL.Image, an https URL or a data: URL, got {type(source).__name__}"
    )


def as_parts(content: Iterable[Any]) -> list[Part]:
    """Validate a list of parts: TextPart/ImagePart, str (text) or OpenAI-style dicts.

    Raises:
        TypeError: an item of another type.
        ValueError: a dict part of an unknown type, or an empty list.
    """
    parts = [_as_part(item, i) for i, item in enumerate(content)]
    if not parts:
        raise ValueError("ChatMessage.content is an empty list: give a str or at least one part")
    return parts


def _as_part(item: Any, index: int) -> Part:
    if isinstance(item, (TextPart, ImagePart)):
        return item
    if isinstance(item, str):
        return TextPart(item)
    if isinstance(item, Mapping):
        return _part_from_dict(item, index)
    raise TypeError(
        f"content part {index} must be a TextPart, an ImagePart (see closedpaw_nb.image()), a str "
        f"or a dict, got {type(item).__name__}"
    )


def _part_from_dict(item: Mapping[str, Any], index: int) -> Part:
    kind = item.get("type")
    if kind == "text" and isinstance(item.get("text"), str):
        return TextPart(item["text"])
    if kind == "image_url":
        ref = item.get("image_url")
        url = ref.get("url") if isinstance(ref, Mapping) else ref
        detail = ref.get("detail") if isinstance(ref, Mapping) else None
        if isinstance(url, str):
            return ImagePart.from_url(url, detail=detail)
    raise ValueError(
        f"content part {index}: expected {{'type': 'text', 'text': ...}} or "
        f"{{'type': 'image_url', 'image_url': {{'url': ...}}}}, got {dict(item)!r:.120}"
    )


def _check_size(size: int, max_bytes: int | None) -> None:
    limit = MAX_IMAGE_BYTES if max_bytes is None else max_bytes
    if size > limit:
        raise ConfigError(
            f"image is {size / 1e6:.1f} MB, over the {limit / 1e6:.1f} MB limit; resize it, "
            "or pass max_bytes=... (the default is closedpaw_nb.content.MAX_IMAGE_BYTES)"
        )


def _decode_data_url(url: str) -> bytes:
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise ConfigError("a data: image URL must be base64: 'data:image/png;base64,...'")
    try:
        # Gemini's SDK sends the URL-safe alphabet; accept both.
        return b64.b64decode(payload.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("the data: image URL's base64 does not decode") from None


def _is_pil_image(value: Any) -> bool:
    # No import: if PIL was never imported, `value` cannot be one of its images.
    module = sys.modules.get("PIL.Image")
    return module is not None and isinstance(value, module.Image)
