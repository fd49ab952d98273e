"""Fixtures for the cross-app journey: firmware artifacts on a temporary disk, the event tailer
off (websocket tests receive pushes through the channel layer)."""

import pytest


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }


@pytest.fixture(autouse=True)
def _no_tailer(settings):
    settings.EVENT_TAIL_ENABLED = False
