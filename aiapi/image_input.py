"""Image parts of chat messages: data URIs are checked, image URLs are fetched by us, safely,
and every image reaches the provider as a data URI.

Fetching a URL a client names is a classic way into a private network, so: https only (outside
embedded development); the name is resolved once, and every address it resolves to must be
public (`public_address`: globally reachable once any IPv4 address embedded in an IPv6 one is
taken out); the connection goes to the address that was checked, never to a second resolution
of the name (DNS rebinding); each redirect hop is checked the same way before it is requested;
and the body is bounded in size and time and must really be an image.

IMAGE_FETCH_ALLOWED_HOSTS lets tests fetch from their own servers on 127.0.0.1. It works only
with DEBUG or under the test suite, and says so in the log each time it is used."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import socket
import sys
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from django.conf import settings

from chukchat.errors import ApiError

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
MAX_REDIRECTS = 3

# IPv6 ranges that carry an IPv4 address in their low 32 bits (or, for 6to4, in bits 16-48).
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated, still routed by some stacks
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
# Local-use NAT64 (RFC 8215): the operator's own translation, never globally reachable.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated, still private wherever used


def _bad_image(message: str) -> ApiError:
    return ApiError(400, "invalid_image", message, param="messages")


def _not_allowed() -> ApiError:
    return ApiError(
        400,
        "image_url_not_allowed",
        "The image URL points to a private or reserved address; images are only fetched from "
        "public addresses.",
        param="messages",
    )


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one:
    IPv4-mapped, IPv4-translated, NAT64 (64:ff9b::/96), 6to4 (2002::/16), IPv4-compatible."""
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    if any(ip in net for net in (_IPV4_MAPPED, _IPV4_TRANSLATED, _NAT64, _IPV4_COMPATIBLE)):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def public_address(address: str) -> bool:
    """Whether `address` (as getaddrinfo gives it) may be fetched from: globally reachable and
    not multicast, judged on the IPv4 address inside it when it embeds one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL or ip in _SITE_LOCAL:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            ip = inner
    return ip.is_global and not ip.is_multicast


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


def _allow_listed(host: str, addresses: list[str]) -> bool:
    """Whether the test-only allow-list lets this host through: only with DEBUG or under the
    test suite, and never quietly."""
    allowed = settings.IMAGE_FETCH_ALLOWED_HOSTS
    if not allowed or not (host in allowed or any(a in allowed for a in addresses)):
        return False
    if not (settings.DEBUG or "pytest" in sys.modules):
        logger.warning(
            "IMAGE_FETCH_ALLOWED_HOSTS is set but ignored: it is for tests and DEBUG only"
        )
        return False
    logger.warning(
        "image URL host %s fetched through the test-only IMAGE_FETCH_ALLOWED_HOSTS, "
        "skipping the public-address check",
        host,
    )
    return True


async def vetted_address(url: str) -> str:
    """The one address `url` will be fetched from: its host resolved once, every address it
    resolves to public (or the host allow-listed for tests). A clear 400 otherwise."""
    parts = urlsplit(url)
    allowed_schemes = {"https"} if not settings.IMAGE_FETCH_ALLOW_HTTP else {"https", "http"}
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise _bad_image("Image URLs must be https URLs.")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _bad_image("The image URL's port is not valid.") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _bad_image("The image URL's host could not be resolved.") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise _bad_image("The image URL's host could not be resolved.")
    if not _allow_listed(host, addresses) and not all(public_address(a) for a in addresses):
        raise _not_allowed()
    return addresses[0]


def pinned_request(url: str, address: str) -> tuple[str, dict, dict]:
    """The URL to request so that the connection goes to `address` (the URL's host replaced
    by it, the credentials in the URL dropped), the Host header, and the TLS name to verify
    the certificate against (httpcore's `sni_hostname`)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").encode("idna").decode("ascii")
    literal = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port else ""
    target = urlunsplit((parts.scheme, f"{literal}{port}", parts.path, parts.query, ""))
    host_header = (f"[{host}]" if ":" in host else host) + port
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return target, {"Host": host_header, "Accept": "image/*"}, extensions


async def fetch_image(url: str, client: httpx.AsyncClient | None = None) -> str:
    """The image at `url` as a data URI, or a clear 400."""
    import httpx  # here: few requests fetch an image, and httpx costs every worker ~10 MB

    own_client = client is None
    client = client or httpx.AsyncClient(
        timeout=httpx.Timeout(settings.IMAGE_FETCH_TIMEOUT),
        follow_redirects=False,
        trust_env=False,
    )
    try:
        async with asyncio.timeout(settings.IMAGE_FETCH_TIMEOUT):
            for _ in range(MAX_REDIRECTS + 1):
                target, headers, extensions = pinned_request(url, await vetted_address(url))
                request = client.build_request(
                    "GET", target, headers=headers, extensions=extensions
                )
                response = await client.send(request, stream=True)
                try:
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
                finally:
                    await response.aclose()
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
