from .alert import Alert
from .rule import AlertRule, MetricBaseline

__all__ = ["Alert", "AlertRule", "MetricBaseline"]
