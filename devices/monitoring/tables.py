"""The alert list as a django-tables2 table (encompass.web.tables pattern)."""

import django_tables2 as tables

from encompass.web.tables import BulkColumn

from .models import Alert


class AlertTable(tables.Table):
    select = BulkColumn()
    severity = tables.TemplateColumn(
        template_name="monitoring/cells/severity.html", order_by=("severity_rank",)
    )
    title = tables.TemplateColumn(
        template_name="monitoring/cells/title.html",
        verbose_name="Alert",
        attrs={"td": {"class": "wrap"}},
    )
    device = tables.TemplateColumn(
        template_name="monitoring/cells/device.html",
        order_by=("device__name",),
        attrs={"td": {"class": "wrap"}},
    )
    site = tables.Column(order_by=("site__name",), default="—")
    count = tables.TemplateColumn("×{{ record.count }}", attrs={"td": {"class": "mono"}})
    last_seen_at = tables.DateTimeColumn(format="Y-m-d H:i:s", verbose_name="Last seen")
    status = tables.TemplateColumn(template_name="monitoring/cells/status.html")
    incident = tables.TemplateColumn(
        template_name="monitoring/cells/incident.html", orderable=False, verbose_name="Incident"
    )
    actions = tables.TemplateColumn(
        template_name="monitoring/cells/actions.html", orderable=False, verbose_name=""
    )

    class Meta:
        model = Alert
        fields = ("select", "severity", "title", "device", "site", "count", "last_seen_at")
        sequence = (
            "select",
            "severity",
            "title",
            "device",
            "site",
            "count",
            "last_seen_at",
            "status",
            "incident",
            "actions",
        )
        order_by = ("-last_seen_at",)
        empty_text = "No alerts match."
        verbose_name = "Alerts"
