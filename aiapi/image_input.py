"""Image parts of chat messages: data URIs are checked, image URLs are fetched by us, safely,
and every image reaches the provider as a data URI.

Fetching a URL a client names is a classic way into a private network, so: https only (outside
embedded development), every address the name resolves to must be public, the address actually
connected to is checked again, each redirect hop is checked the same way, and the body is
bounded in size and time and must really be an image."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

from chukchat.errors import ApiError

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
MAX_REDIRECTS = 3


def _bad_image(message: str) -> ApiError:
    return ApiError(400, "invalid_image", message, param="messages")


def sniff_image_type(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_data_uri(url: str) -> str:
    header, comma, payload = url.partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise _bad_image("An image data URI must look like data:image/png;base64,...")
    media_type = header[5:-7].lower()
    if media_type not in IMAGE_TYPES:
        raise _bad_image("Images must be JPEG, PNG, WEBP or GIF.")
    if len(payload) > settings.IMAGE_MAX_BYTES * 4 // 3 + 4:
        raise ApiError(413, "payload_too_large", "The image is too large.")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_image("The image data URI is not valid base64.") from None
    if sniff_image_type(data) != media_type:
        raise _bad_image(f"The image data is not a {media_type.split('/')[1].upper()} image.")
    return f"data:{media_type};base64,{payload}"


def _address_allowed(address: str, host: str) -> bool:
    if host in settings.IMAGE_FETCH_ALLOWED_HOSTS or address in settings.IMAGE_FETCH_ALLOWED_HOSTS:
        return True  # test-only allow-list
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def _check_host(url: str) -> None:
    parts = urlsplit(url)
    allowed_schemes = {"https"} if not settings.IMAGE_FETCH_ALLOW_HTTP else {"https", "http"}
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise _bad_image("Image URLs must be https URLs.")
    host = parts.hostname
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except OSError:
        raise _bad_image("The image URL's host could not be resolved.") from None
    if not infos or not all(_address_allowed(info[4][0], host) for info in infos):
        raise _bad_image("The image URL points to a private or reserved address.")


async def fetch_image(url: str, client: httpx.AsyncClient | None = None) -> str:
    """The image at `url` as a data URI, or a clear 400."""
    own_client = client is None
    client = client or httpx.AsyncClient(
        timeout=httpx.Timeout(settings.IMAGE_FETCH_TIMEOUT),
        follow_redirects=False,
        trust_env=False,
    )
    try:
        async with asyncio.timeout(settings.IMAGE_FETCH_TIMEOUT):
            for _ in range(MAX_REDIRECTS + 1):
                await _check_host(url)
                async with client.stream("GET", url, headers={"Accept": "image/*"}) as response:
                    stream = response.extensions.get("network_stream")
                    peer = stream.get_extra_info("server_addr") if stream else None
                    host = urlsplit(url).hostname or ""
                    if peer and not _address_allowed(peer[0], host):
                        raise _bad_image("The image URL points to a private or reserved address.")
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise _bad_image(f"The image URL answered HTTP {response.status_code}.")
                    media_type = response.headers.get("content-type", "").split(";")[0].strip()
                    if media_type not in IMAGE_TYPES:
                        raise _bad_image("The image URL did not return a JPEG, PNG, WEBP or GIF.")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > settings.IMAGE_MAX_BYTES:
                            raise ApiError(413, "payload_too_large", "The image is too large.")
                    if sniff_image_type(bytes(body)) != media_type:
                        raise _bad_image("The image URL's content is not the image it claims.")
                    return f"data:{media_type};base64,{base64.b64encode(body).decode()}"
            raise _bad_image("The image URL redirected too many times.")
    except TimeoutError:
        raise _bad_image("The image URL took too long to answer.") from None
    except httpx.HTTPError:
        raise _bad_image("The image URL could not be fetched.") from None
    finally:
        if own_client:
            await client.aclose()


async def inline_images(messages: list[dict]) -> None:
    """Replaces every image part's URL with a checked data URI, fetching URLs concurrently."""
    parts = [
        part
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]
    if len(parts) > settings.IMAGE_MAX_COUNT:
        raise _bad_image(f"At most {settings.IMAGE_MAX_COUNT} images per request.")
    fetches = []
    for part in parts:
        url = part["image_url"]["url"]
        if url.startswith("data:"):
            part["image_url"]["url"] = check_data_uri(url)
        else:
            fetches.append(part)
    if fetches:
        results = await asyncio.gather(*(fetch_image(p["image_url"]["url"]) for p in fetches))
        for part, data_uri in zip(fetches, results, strict=True):
            part["image_url"]["url"] = data_uri
