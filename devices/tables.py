"""The fleet list as a django-tables2 table (encompass.web.tables pattern)."""

import django_tables2 as tables

from encompass.web.tables import BulkColumn

from .models import Device


class DeviceTable(tables.Table):
    select = BulkColumn()
    name = tables.LinkColumn(
        "devices_ui:detail", args=[tables.A("pk")], attrs={"td": {"class": "wrap"}}
    )
    uid = tables.Column(verbose_name="Device id", attrs={"td": {"class": "mono"}})
    serial_number = tables.Column(verbose_name="Serial", attrs={"td": {"class": "mono"}})
    device_type = tables.Column(
        verbose_name="Type", order_by=("device_type__manufacturer", "device_type__model")
    )
    site = tables.Column(order_by=("site__name",), default="—")
    state = tables.TemplateColumn(
        '{% include "devices/_state.html" with colour=record.state_colour'
        " label=record.get_state_display %}"
    )
    health = tables.TemplateColumn(
        '{% include "devices/_state.html" with colour=record.health_colour'
        " label=record.get_health_display %}"
    )
    firmware_version = tables.Column(
        verbose_name="Firmware", default="—", attrs={"td": {"class": "mono"}}
    )
    last_seen_at = tables.TemplateColumn(
        "{% if record.last_seen_at %}<time datetime=\"{{ record.last_seen_at|date:'c' }}\""
        " title=\"{{ record.last_seen_at|date:'Y-m-d H:i:s' }}\">"
        "{{ record.last_seen_at|timesince }} ago</time>"
        '{% else %}<span class="muted">never</span>{% endif %}',
        verbose_name="Last seen",
    )
    tags = tables.TemplateColumn(
        '{% for t in record.tags.all %}<span class="badge">{{ t.name }}</span> {% endfor %}',
        orderable=False,
    )

    class Meta:
        model = Device
        fields = ()
        sequence = (
            "select",
            "name",
            "uid",
            "serial_number",
            "device_type",
            "site",
            "state",
            "health",
            "firmware_version",
            "last_seen_at",
            "tags",
        )
        order_by = ("name",)
        empty_text = "No devices match."
        verbose_name = "Devices"
