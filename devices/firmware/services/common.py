"""Helpers the firmware services share."""

from encompass.audit.services import (
    actor_label,
    user_or_none,
)


def is_system(actor):
    return actor is None or isinstance(actor, str)


__all__ = ["actor_label", "is_system", "user_or_none"]
