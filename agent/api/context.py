"""The per-request view handlers work with: store, ids, host, and the HAL/fields choices."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from agent.api.http import FieldSelection, selection, wants_hal
from agent.api.transactions import HEADER as TRANSACTION_HEADER
from agent.api.transactions import STAGED_STORE
from agent.files.locations import FileLocations
from agent.hosting.base import Host
from agent.ids import IdCodec
from agent.iisconfig import ConfigStore
from agent.iisconfig.index import ServerIndex, server_index
from agent.keys import CONFIG_STORE, FILE_LOCATIONS, HOST, ID_CODEC, SECRET_BOX
from shared.loop_turn import TURN
from shared.secretbox import SecretBox


@dataclass(slots=True)
class Ctx:
    """What a resource handler needs from the application for one request."""

    request: web.Request
    store: ConfigStore
    codec: IdCodec
    host: Host
    locations: FileLocations
    secrets: SecretBox
    hal: bool
    fields: FieldSelection

    @property
    def index(self) -> ServerIndex:
        """Sites, pools and applications indexed for the current configuration generation."""
        return server_index(self.store)


def current_store(request: web.Request) -> ConfigStore:
    """The store this request reads (a transaction's staged copy or the main one), with others' edits picked up."""
    # Only a request naming a transaction can have a staged store (and request.get costs a KeyError).
    staged = request.get(STAGED_STORE) if TRANSACTION_HEADER in request.headers else None
    store = staged or request.app[CONFIG_STORE]
    # One stat per loop turn: a request sent after an external edit is always read in a later turn.
    if TURN.first(store):
        store.refresh_if_changed()
    return store


def context(request: web.Request, store: ConfigStore | None = None) -> Ctx:
    """Build the context, picking up configuration changes made by other programs first."""
    store = store or current_store(request)
    return Ctx(
        request=request,
        store=store,
        codec=request.app[ID_CODEC],
        host=request.app[HOST],
        locations=request.app[FILE_LOCATIONS],
        secrets=request.app[SECRET_BOX],
        hal=wants_hal(request),
        fields=selection(request),
    )
