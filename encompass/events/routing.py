"""Websocket routes. The consumer lives in ``encompass.events.consumers``."""

from django.urls import path

websocket_urlpatterns = []

try:
    from .consumers import EventConsumer
except ImportError:  # the consumer arrives with the live-dashboard work
    EventConsumer = None
else:
    websocket_urlpatterns.append(path("ws/events/", EventConsumer.as_asgi()))
