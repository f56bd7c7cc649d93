"""The operator console: a static single-page web app (no build step) served by the API
application, plus the API it needs beyond alarms and the register (the device card)."""

from console.api import DeviceSources
from console.map_api import MapSources
from console.web import console_part

__all__ = ["DeviceSources", "MapSources", "console_part"]
