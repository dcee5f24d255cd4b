"""Configuration transactions: /api/webserver/transactions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.api.http import created_response, json_response, read_json, wants_hal
from agent.api.transactions import TRANSACTIONS, Transaction, txn_id
from shared.dates import format_date
from shared.errors import InvalidParameter, NotFound

PATH = "/api/webserver/transactions"
RESOURCE = "Microsoft.WebServer.Transaction"


def model(request: web.Request, txn: Transaction) -> dict[str, Any]:
    """The transaction as upstream shows it."""
    tid = txn_id(request, txn)
    body: dict[str, Any] = {
        "id": tid,
        "created_on": format_date(txn.created_on),
        "expires_on": format_date(txn.expires_on),
        "state": txn.state,
    }
    if wants_hal(request):
        body["_links"] = {"self": {"href": f"{PATH}/{tid}"}}
    return body


def _find(request: web.Request) -> Transaction:
    txn = request.app[TRANSACTIONS].current()
    if txn is None or txn_id(request, txn) != request.match_info["id"]:
        raise NotFound(name="transaction")
    return txn


async def list_transactions(request: web.Request) -> web.StreamResponse:
    """GET: zero or one open transaction."""
    txn = request.app[TRANSACTIONS].current()
    items = [model(request, txn)] if txn is not None else []
    return json_response(request, {"transactions": items}, resource="Microsoft.WebServer.Transactions")


async def create_transaction(request: web.Request) -> web.StreamResponse:
    """POST: open a transaction (the open one when there is one already, as upstream)."""
    txn = request.app[TRANSACTIONS].begin()
    return created_response(request, model(request, txn), collection=PATH, resource=RESOURCE)


async def get_transaction(request: web.Request) -> web.StreamResponse:
    """GET one: only the open transaction exists."""
    return json_response(request, model(request, _find(request)), resource=RESOURCE)


async def update_transaction(request: web.Request) -> web.StreamResponse:
    """PATCH `{"state": "committed" | "aborted"}`; other states leave it open."""
    txn = _find(request)
    body = await read_json(request)
    state = body.get("state")
    if state is not None and not isinstance(state, str):
        raise InvalidParameter("state")
    wanted = (state or "").strip().lower()
    manager = request.app[TRANSACTIONS]
    if wanted == "committed":
        txn = await manager.commit()
    elif wanted == "aborted":
        txn = manager.abort()
    return json_response(request, model(request, txn), resource=RESOURCE)
