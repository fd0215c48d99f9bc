"""A Stripe stand-in for tests and offline development: localstripe behind a small ASGI front.

localstripe (PyPI) speaks Stripe's API for customers, products, plans, payment methods,
subscriptions and invoices, but answers 404 for prices, Checkout Sessions and Customer Portal
sessions. This front serves those three resources itself, with Stripe's form-encoded requests,
JSON shapes and error bodies, so the official `stripe` SDK is used unchanged; every other request
is passed through to localstripe. A recurring price is also created in localstripe as a plan of
the same id, so subscriptions to it work there.

Test control (what a customer paying on Stripe's hosted page would cause):

    POST /_standin/checkout/sessions/{id}/complete
        subscription mode: gives the customer a working card and creates the subscription in
        localstripe; payment mode: creates and confirms the PaymentIntent. The session becomes
        complete and paid, and is returned.

    python -m fakes.stripe_standin --port 12111   # with localstripe on a free port
"""

from __future__ import annotations

import argparse
import contextlib
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson

_LIST_INDEX = re.compile(r"^\d+$")


def decode_form(body: bytes) -> dict:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    root: dict = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        if node and all(_LIST_INDEX.match(k) for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(18).replace("-", "a").replace("_", "b")


class StripeError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code=None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": "invalid_request_error", "message": message}}
        if param:
            self.body["error"]["param"] = param
        if code:
            self.body["error"]["code"] = code


def _missing(resource: str, ident: str, param: str | None = None) -> StripeError:
    return StripeError(
        400 if param else 404,
        f"No such {resource}: '{ident}'",
        param=param,
        code="resource_missing",
    )


class StripeStandinApp:
    def __init__(self, localstripe_url: str) -> None:
        self.localstripe_url = localstripe_url.rstrip("/")
        self.public_url = ""  # set by the runner: where session URLs point
        self.prices: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.portal_sessions: dict[str, dict] = {}
        # Per session, what completing it needs and Stripe does not return (line items, the
        # subscription's and the payment's metadata).
        self.session_inputs: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every call served here

    # --- ASGI plumbing -----------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"")
        try:
            status, payload = await self.route(method, path, query, headers, bytes(body))
        except StripeError as error:
            status, payload = error.status, error.body
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    (b"request-id", _new_id("req_").encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def route(self, method, path, query, headers, body):
        if path.startswith("/_standin/"):
            match = re.fullmatch(r"/_standin/checkout/sessions/([\w-]+)/complete", path)
            if method == "POST" and match:
                return 200, await self.complete_session(match[1], headers)
            raise StripeError(404, "Unrecognized request URL")
        served = {
            ("POST", "/v1/prices"): lambda: self.create_price(decode_form(body), headers),
            ("GET", "/v1/prices"): lambda: self.list_prices(),
            ("POST", "/v1/checkout/sessions"): lambda: self.create_session(
                decode_form(body), headers
            ),
            ("POST", "/v1/billing_portal/sessions"): lambda: self.create_portal_session(
                decode_form(body), headers
            ),
        }
        handler = served.get((method, path))
        if handler is None and method == "GET":
            if match := re.fullmatch(r"/v1/prices/([\w-]+)", path):
                handler = lambda: self.get(self.prices, "price", match[1])  # noqa: E731
            elif match := re.fullmatch(r"/v1/checkout/sessions/([\w-]+)", path):
                handler = lambda: self.get(self.sessions, "checkout.session", match[1])  # noqa: E731
        if handler is None:
            return await self.proxy(method, path, query, headers, body)
        self.authorise(headers)
        self.requests.append((method, path))
        return 200, await handler()

    @staticmethod
    def authorise(headers: dict) -> None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.startswith("sk_"):
            raise StripeError(401, "Invalid API Key provided")

    async def proxy(self, method, path, query, headers, body):
        forwarded = {
            k: v for k, v in headers.items() if k in ("authorization", "content-type", "accept")
        }
        url = f"{self.localstripe_url}{path}" + (f"?{query.decode()}" if query else "")
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.request(method, url, content=body, headers=forwarded)
        return response.status_code, response.content

    async def localstripe(self, method: str, path: str, headers: dict, data=None) -> dict:
        """Call localstripe with Stripe's form encoding; its errors become ours."""
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.request(
                method,
                f"{self.localstripe_url}{path}",
                content=urlencode(_encode_form(data or {})),
                headers={
                    "authorization": headers.get("authorization", ""),
                    "content-type": "application/x-www-form-urlencoded",
                },
            )
        if response.status_code >= 400:
            error = response.json().get("error", {})
            raise StripeError(response.status_code, error.get("message", "localstripe error"))
        return response.json()

    async def get(self, store: dict, resource: str, ident: str) -> dict:
        if ident not in store:
            raise _missing(resource, ident)
        return store[ident]

    # --- prices ------------------------------------------------------------------------------
    async def create_price(self, params: dict, headers: dict) -> dict:
        currency = params.get("currency")
        if not currency:
            raise StripeError(400, "Missing required param: currency.", param="currency")
        try:
            unit_amount = int(params["unit_amount"])
        except (KeyError, ValueError):
            raise StripeError(
                400, "Missing or invalid param: unit_amount.", param="unit_amount"
            ) from None
        product = params.get("product")
        if product is None:
            name = (params.get("product_data") or {}).get("name")
            if not name:
                raise StripeError(400, "Missing required param: product.", param="product")
            product = (await self.localstripe("POST", "/v1/products", headers, {"name": name}))[
                "id"
            ]
        else:
            await self.localstripe("GET", f"/v1/products/{product}", headers)
        recurring = params.get("recurring")
        price_id = _new_id("price_")
        if recurring:
            interval = recurring.get("interval")
            if interval not in ("day", "week", "month", "year"):
                raise StripeError(400, "Invalid recurring[interval].", param="recurring[interval]")
            recurring = {
                "interval": interval,
                "interval_count": int(recurring.get("interval_count", 1)),
                "usage_type": "licensed",
                "meter": None,
                "trial_period_days": None,
            }
            # The same id as a localstripe plan, so subscriptions to this price work there.
            await self.localstripe(
                "POST",
                "/v1/plans",
                headers,
                {
                    "id": price_id,
                    "amount": unit_amount,
                    "currency": currency,
                    "interval": interval,
                    "interval_count": recurring["interval_count"],
                    "product": product,
                },
            )
        price = {
            "id": price_id,
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "created": int(time.time()),
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": params.get("lookup_key"),
            "metadata": params.get("metadata") or {},
            "nickname": params.get("nickname"),
            "product": product,
            "recurring": recurring or None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        self.prices[price_id] = price
        return price

    async def list_prices(self) -> dict:
        data = list(reversed(self.prices.values()))
        return {"object": "list", "data": data, "has_more": False, "url": "/v1/prices"}

    # --- Checkout Sessions -------------------------------------------------------------------
    async def create_session(self, params: dict, headers: dict) -> dict:
        mode = params.get("mode")
        if mode not in ("payment", "subscription"):
            raise StripeError(400, "Missing or invalid param: mode.", param="mode")
        if not params.get("success_url"):
            raise StripeError(400, "Missing required param: success_url.", param="success_url")
        customer = params.get("customer")
        if customer:
            await self.localstripe("GET", f"/v1/customers/{customer}", headers)
        items = params.get("line_items") or []
        if not items:
            raise StripeError(400, "Missing required param: line_items.", param="line_items")
        lines, total, currency = [], 0, None
        for index, item in enumerate(items):
            quantity = int(item.get("quantity", 1))
            if "price" in item:
                price = self.prices.get(item["price"])
                if price is None:
                    raise _missing("price", item["price"], param=f"line_items[{index}][price]")
            elif "price_data" in item:
                data = item["price_data"]
                price = {
                    "id": _new_id("price_"),
                    "object": "price",
                    "currency": data.get("currency"),
                    "unit_amount": int(data.get("unit_amount", 0)),
                    "recurring": data.get("recurring"),
                    "type": "recurring" if data.get("recurring") else "one_time",
                    "product_data": data.get("product_data"),
                }
            else:
                raise StripeError(
                    400, "Each line item needs a price or price_data.", param="line_items"
                )
            recurring = bool(price.get("recurring"))
            if (mode == "subscription") != recurring:
                raise StripeError(
                    400,
                    "You must provide at least one recurring price in `subscription` mode."
                    if mode == "subscription"
                    else "You specified `payment` mode but passed a recurring price.",
                    param=f"line_items[{index}]",
                )
            lines.append({"price": price, "quantity": quantity})
            total += price["unit_amount"] * quantity
            currency = currency or price["currency"]
        session_id = _new_id("cs_test_")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{self.public_url}/c/pay/{session_id}",
            "success_url": params["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id),
            "cancel_url": params.get("cancel_url"),
            "customer": customer,
            "customer_email": params.get("customer_email"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "currency": currency,
            "amount_subtotal": total,
            "amount_total": total,
            "created": int(time.time()),
            "expires_at": int(time.time()) + 24 * 3600,
            "livemode": False,
            "payment_intent": None,
            "subscription": None,
            "invoice": None,
            "ui_mode": "hosted",
        }
        self.sessions[session_id] = session
        self.session_inputs[session_id] = {
            "lines": lines,
            "subscription_data": params.get("subscription_data") or {},
            "payment_intent_data": params.get("payment_intent_data") or {},
        }
        return session

    async def complete_session(self, session_id: str, headers: dict) -> dict:
        self.authorise(headers)
        session = await self.get(self.sessions, "checkout.session", session_id)
        if session["status"] != "open":
            raise StripeError(400, f"Checkout session {session_id} is not open.")
        inputs = self.session_inputs[session_id]
        customer = session["customer"]
        if customer is None:
            customer = (await self.localstripe("POST", "/v1/customers", headers, {}))["id"]
            session["customer"] = customer
        card = await self.localstripe(
            "POST", "/v1/payment_methods/pm_card_visa/attach", headers, {"customer": customer}
        )
        await self.localstripe(
            "POST",
            f"/v1/customers/{customer}",
            headers,
            {"invoice_settings": {"default_payment_method": card["id"]}},
        )
        if session["mode"] == "subscription":
            line = inputs["lines"][0]
            subscription = await self.localstripe(
                "POST",
                "/v1/subscriptions",
                headers,
                {
                    "customer": customer,
                    "items": [{"plan": line["price"]["id"], "quantity": line["quantity"]}],
                    "metadata": inputs["subscription_data"].get("metadata") or {},
                },
            )
            session["subscription"] = subscription["id"]
            session["invoice"] = subscription.get("latest_invoice")
        else:
            intent = await self.localstripe(
                "POST",
                "/v1/payment_intents",
                headers,
                {
                    "amount": session["amount_total"],
                    "currency": session["currency"],
                    "customer": customer,
                    "payment_method": card["id"],
                    "confirm": "true",
                    "metadata": inputs["payment_intent_data"].get("metadata") or {},
                },
            )
            session["payment_intent"] = intent["id"]
        session["status"] = "complete"
        session["payment_status"] = "paid"
        return session

    # --- Customer Portal ---------------------------------------------------------------------
    async def create_portal_session(self, params: dict, headers: dict) -> dict:
        customer = params.get("customer")
        if not customer:
            raise StripeError(400, "Missing required param: customer.", param="customer")
        await self.localstripe("GET", f"/v1/customers/{customer}", headers)
        portal_id = _new_id("bps_")
        session = {
            "id": portal_id,
            "object": "billing_portal.session",
            "configuration": "bpc_standin_default",
            "created": int(time.time()),
            "customer": customer,
            "flow": None,
            "livemode": False,
            "locale": params.get("locale"),
            "on_behalf_of": None,
            "return_url": params.get("return_url"),
            "url": f"{self.public_url}/p/session/{portal_id}",
        }
        self.portal_sessions[portal_id] = session
        return session


def _encode_form(data: dict) -> list[tuple[str, str]]:
    """Nested dicts and lists into Stripe's bracketed form fields."""
    fields: list[tuple[str, str]] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else key, item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif value is not None:
            fields.append((prefix, str(value)))

    walk("", data)
    return fields


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}")


class StripeStandin:
    """localstripe in a child process and the front in a background thread, both on
    127.0.0.1. Point the SDK's API base at `url`."""

    def __init__(self, port: int | None = None) -> None:
        import uvicorn

        self.localstripe_port = _free_port()
        self.port = port or _free_port()
        self.app = StripeStandinApp(f"http://127.0.0.1:{self.localstripe_port}")
        self.app.public_url = self.url
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                loop="asyncio",
                http="h11",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StripeStandin:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fakes.localstripe_server",
                "--port",
                str(self.localstripe_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        _wait_for_port(self.localstripe_port, deadline)
        self.thread.start()
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the Stripe stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> StripeStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=12111)
    args = parser.parse_args()
    with StripeStandin(port=args.port) as standin:
        print(f"Stripe stand-in on {standin.url} (STRIPE_API_BASE={standin.url})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            standin.thread.join()


if __name__ == "__main__":
    main()
