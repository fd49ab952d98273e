"""Log filters for the console.

``ClientGoneFilter`` drops asyncio's "Task exception was never retrieved" records whose exception
is Django's ``RequestAborted``: Django's ASGI handler raises it in its disconnect listener when
the client hangs up (a simulated device dropped after a refusal, a browser tab closed), and
nobody awaits that task, so asyncio printed a full traceback for what is not an error. Every
other record passes untouched.
"""

import logging

from django.core.exceptions import RequestAborted


def _exception_of(record):
    if record.exc_info and record.exc_info[1] is not None:
        return record.exc_info[1]
    # asyncio's default handler passes the exception in the message's context, as exc_info.
    return None


class ClientGoneFilter(logging.Filter):
    def filter(self, record):
        if record.name != "asyncio":
            return True
        return not isinstance(_exception_of(record), RequestAborted)
