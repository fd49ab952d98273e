"""Helpers the firmware services share."""

from encompass.audit.services import actor_label


def user_or_none(actor):
    return actor if getattr(actor, "_meta", None) and actor._meta.label == "auth.User" else None


def is_system(actor):
    return actor is None or isinstance(actor, str)


__all__ = ["actor_label", "is_system", "user_or_none"]
