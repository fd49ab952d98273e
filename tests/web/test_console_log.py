"""The demo terminal: a client that hung up (Django's ASGI disconnect listener raising
RequestAborted, e.g. a refused simulated device dropped by the simulator) prints no traceback;
real errors still do."""

import asyncio
import copy
import io
import logging
import logging.config

from django.conf import settings
from django.core.exceptions import RequestAborted


def _console(stream):
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"]["stream"] = stream
    config["disable_existing_loggers"] = False
    logging.config.dictConfig(config)


def _unretrieved(exc):
    """What asyncio logs for a task whose exception nobody retrieved."""

    async def fails():
        raise exc

    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(fails())
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(asyncio.sleep(0))
        assert task.done()
        del task  # garbage-collected unretrieved: asyncio's handler logs it
        import gc

        gc.collect()
    finally:
        loop.close()


def test_request_aborted_is_not_a_traceback_but_real_errors_are():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        _console(stream)
        _unretrieved(RequestAborted())
        assert "Traceback" not in stream.getvalue()
        _unretrieved(ValueError("a real bug"))
        out = stream.getvalue()
        assert "Task exception was never retrieved" in out and "ValueError: a real bug" in out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
