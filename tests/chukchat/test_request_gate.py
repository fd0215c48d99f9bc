"""A request that writes to the API shows its credentials and its size before its body is read:
an upload with no key, a bad key or an oversized declared length is answered at once, and a
chunked body is cut off where it passes the limit. Over real sockets, as a client sends it."""

import socket
from urllib.parse import urlsplit

import orjson

from billing.models import UsageRecord
from billing.selectors import balance_of


def _open(gateway_url: str) -> socket.socket:
    parts = urlsplit(gateway_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return status, orjson.loads(body[:length])


def _start_chunked_upload(sock: socket.socket, *, path: str, headers: dict[str, str]) -> None:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def test_a_huge_chunked_upload_without_a_key_is_refused_before_its_body_is_sent(gateway_url):
    with _open(gateway_url) as sock:
        # Only the headers of what would be a 200 MiB upload: the answer comes without a byte
        # of the body, so none of it is ever read or spooled.
        _start_chunked_upload(
            sock, path="/v1/audio/transcriptions", headers={"Content-Type": "multipart/form-data"}
        )
        status, body = _read_response(sock)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"


def test_a_bad_key_is_refused_before_the_body_is_sent(gateway_url):
    for header in ("Authorization: Bearer sk-chuk-notarealkey", "x-api-key: sk-chuk-nope"):
        name, value = header.split(": ")
        with _open(gateway_url) as sock:
            _start_chunked_upload(
                sock,
                path="/v1/chat/completions",
                headers={name: value, "Content-Type": "application/json"},
            )
            status, body = _read_response(sock)
        assert status == 401, header
        assert body["error"]["code"] == "invalid_api_key"


def test_a_session_cookie_that_names_no_session_is_refused_before_the_body(gateway_url):
    with _open(gateway_url) as sock:
        _start_chunked_upload(
            sock,
            path="/v1/media/convert",
            headers={"Cookie": "sessionid=forged", "Content-Type": "multipart/form-data"},
        )
        status, body = _read_response(sock)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"


def test_a_declared_length_over_the_limit_is_413_at_once(gateway_url, carol, carol_key):
    with _open(gateway_url) as sock:
        request = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {carol_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
        )
        sock.sendall(request.encode())
        status, body = _read_response(sock)
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert not UsageRecord.objects.exists()


def test_a_chunked_body_is_cut_off_at_the_limit_and_charges_nothing(
    gateway_url, carol, carol_key, settings
):
    settings.API_MAX_BODY_BYTES = 64 * 1024
    with _open(gateway_url) as sock:
        _start_chunked_upload(
            sock,
            path="/v1/chat/completions",
            headers={"Authorization": f"Bearer {carol_key}", "Content-Type": "application/json"},
        )
        chunk = b"x" * 16 * 1024
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        sent = 0
        try:
            # Up to 1 MiB offered; the server answers after the first 64 KiB and stops reading.
            while sent < 1024 * 1024:
                sock.sendall(framed)
                sent += len(chunk)
        except OSError:
            pass
        status, body = _read_response(sock)
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert not UsageRecord.objects.exists()
    assert balance_of(user=carol) == 10


def test_a_body_within_the_limit_is_served(http):
    answer = http.post(
        "/v1/chat/completions",
        json={"model": "fast", "messages": [{"role": "user", "content": "hello"}]},
    )
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"]
