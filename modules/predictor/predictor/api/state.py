"""Typed application state shared by the routes (``web.AppKey``)."""

from __future__ import annotations

from aiohttp import web

from predictor.api.inflight import InFlight
from predictor.dataplane import DataPlane
from predictor.metrics import Metrics
from predictor.models.manager import ModelManager
from predictor.settings import HttpSettings
from predictor.storage.source import StorageSource

HTTP_SETTINGS = web.AppKey("http_settings", HttpSettings)
MANAGER = web.AppKey("manager", ModelManager)
METRICS = web.AppKey("metrics", Metrics)
IN_FLIGHT = web.AppKey("in_flight", InFlight)
PLANE = web.AppKey("plane", DataPlane)
MODEL_SOURCE = web.AppKey("model_source", StorageSource)
