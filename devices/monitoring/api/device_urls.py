from django.urls import path

from .device_views import DeviceEventsView

urlpatterns = [path("events", DeviceEventsView.as_view(), name="device-events")]
