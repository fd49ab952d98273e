from .alert import Alert

__all__ = ["Alert"]
