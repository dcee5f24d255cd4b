"""Every typed web.AppKey and request key of the agent application."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from agent.files.locations import FileLocations
from agent.hosting.base import Host
from agent.ids import IdCodec
from agent.iisconfig import ConfigStore
from agent.settings import AgentSettings
from shared.secretbox import SecretBox

SETTINGS = web.AppKey("settings", AgentSettings)
STATE_DIR = web.AppKey("state_dir", Path)
CONFIG_STORE = web.AppKey("config_store", ConfigStore)
ID_CODEC = web.AppKey("id_codec", IdCodec)
HOST = web.AppKey("host", Host)
FILE_LOCATIONS = web.AppKey("file_locations", FileLocations)
SECRET_BOX = web.AppKey("secret_box", SecretBox)
