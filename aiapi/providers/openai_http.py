"""Chat and embeddings to OpenAI-compatible servers over aiohttp directly, without the `openai`
SDK: the SDK call was a fifth of a loaded worker's CPU (building its httpx request, then
adapting aiohttp's response back to httpx) and importing it a third of an idle worker's memory.

What a provider sees and what routing is told stay the SDK's (tests/aiapi/test_openai_http.py
runs both against the same faults): the same URL, JSON body and Authorization, Content-Type and
Accept headers; no retries (routing decides what to try next); the SDK's timeouts (`connect` to
open a connection, `total` to wait for one from the pool and between any two reads); and its
errors as aiapi/providers/openai_adapter.py's `failure_from` describes them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import orjson

from aiapi.providers.base import ProviderFailure
from aiapi.providers.rejections import is_rejection, rejection

OPENAI_BASE_URL = "https://api.openai.com/v1"
USER_AGENT = "ChukChat"


def _encoded(body: dict) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits, which orjson refuses and JSON allows
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def error_body(text: str) -> object:
    """An error response's body as the SDK gives it: the JSON's `error` object when there is
    one, the JSON otherwise, or the text when it is not JSON."""
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.strip()
    return body.get("error", body) if isinstance(body, dict) else body


def status_failure(status: int, body: object, *, secrets: tuple[str, ...]) -> ProviderFailure:
    if is_rejection(status):
        return rejection(status, body, secrets=secrets)
    # 401/403/404 mean our configuration is wrong for this provider: another may serve.
    retryable = status == 429 or status >= 500 or status in (401, 403, 404)
    return ProviderFailure(
        f"The provider answered HTTP {status}.", status=status, retryable=retryable
    )


def transport_failure(error: BaseException) -> ProviderFailure:
    if isinstance(error, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
        return ProviderFailure("The provider timed out.", retryable=True, timeout=True)
    return ProviderFailure("The provider could not be reached.", retryable=True)


class OpenAIHttp:
    """One provider's connection pool (made on first use, on the loop that uses it)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        connect_timeout: float,
        total_timeout: float,
        secrets: tuple[str, ...],
    ) -> None:
        self._base = (base_url or OPENAI_BASE_URL).rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=total_timeout, sock_connect=connect_timeout, sock_read=total_timeout
        )
        self._secrets = secrets
        self._session: aiohttp.ClientSession | None = None

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=5.0),
                timeout=self._timeout,
                headers=self._headers,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _send(self, path: str, body: dict) -> aiohttp.ClientResponse:
        """The response, its status a success; a ProviderFailure otherwise."""
        try:
            response = await self._pool().post(self._base + path, data=_encoded(body))
        except (aiohttp.ClientError, TimeoutError) as error:
            raise transport_failure(error) from error
        if response.status < 300:
            return response
        try:
            text = await response.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError):
            text = ""
        finally:
            response.release()
        raise status_failure(response.status, error_body(text), secrets=self._secrets)

    async def post_json(self, path: str, body: dict) -> dict:
        response = await self._send(path, body)
        try:
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise transport_failure(error) from error
        finally:
            response.release()
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise ProviderFailure(
                "The provider sent a response we could not read.", retryable=True
            ) from error
        if not isinstance(payload, dict):
            raise ProviderFailure("The provider sent a response we could not read.", retryable=True)
        return payload

    async def stream_lines(self, path: str, body: dict) -> AsyncIterator[str]:
        """The response's lines as text, once the provider has accepted the request (which
        raises ProviderFailure before the first line otherwise). The connection goes back to the
        pool, or is closed if the stream was left unfinished, when the iterator is closed."""
        response = await self._send(path, body)
        try:
            async for line in response.content:
                yield line.decode("utf-8", "replace")
        except TimeoutError:
            raise  # a quiet provider: routing's own timeout answers it
        except aiohttp.ClientError as error:
            raise ProviderFailure("The provider's answer broke off.", retryable=False) from error
        finally:
            if response.content.at_eof():
                response.release()
            else:
                response.close()  # unread data would follow the next request on this connection
