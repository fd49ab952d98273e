"""The web UI's list pattern: a django-tables2 table (sortable columns), a django-filter filter
set (its form says which value is invalid), keyset pagination (no COUNT, no OFFSET) and bulk
actions -- one view class every list page uses::

    class AlertTable(tables.Table):              # django_tables2.Table
        select = BulkColumn()                    # a checkbox per row, for the bulk form
        title = tables.Column()
        class Meta:
            model = Alert
            fields = ("select", "severity", "title", "last_seen_at")
            order_by = ("-last_seen_at",)        # the default sort

    class AlertListView(FilteredTableView):
        model = Alert
        table_class = AlertTable
        filterset_class = AlertUIFilter          # a django_filters.FilterSet
        template_name = "monitoring/alerts.html" # {% include "web/_list.html" %}

Sorting: ``?sort=column`` / ``?sort=-column`` (only the table's orderable columns; the primary
key is always the last sort key so the order is total). Paging: ``?after=<cursor>``, the signed
sort-key values of the previous page's last row; rows are fetched ``WHERE (keys) > cursor ORDER
BY keys LIMIT n + 1`` -- the same cost on page 1 and page 1,000. A changed sort or filter starts
again from the first page. Counts, where shown, come from ``CappedPaginator``'s bounded count.
"""

import django_tables2 as tables
from django.contrib import messages
from django.core import signing
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F, Q
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views import generic

from .mixins import TenantMixin
from .pagination import CappedPaginator

CURSOR_SALT = "encompass.web.tables.cursor"
PAGE_SIZE = 50


class BulkColumn(tables.CheckBoxColumn):
    """A checkbox per row, tied to the page's bulk form (``form="bulk-form"``) so the rows can
    keep forms of their own. Shown only on rows the view marks ``row.bulk_allowed``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("accessor", "pk")
        kwargs.setdefault("orderable", False)
        kwargs.setdefault("verbose_name", "")
        super().__init__(**kwargs)

    @property
    def header(self):
        return mark_safe(
            '<input type="checkbox" data-select-all="ids" aria-label="Select all on this page"'
            ' form="bulk-form">'
        )

    def render(self, value, bound_column, record):
        if not getattr(record, "bulk_allowed", True):
            return ""
        return format_html(
            '<input type="checkbox" name="ids" value="{}" form="bulk-form" aria-label="Select">',
            value,
        )


class _JSON(DjangoJSONEncoder):
    pass


def _field_along(model, path):
    """The model field at the end of a ``a__b__c`` path (None for an annotation or ``pk``)."""
    if path == "pk":
        return model._meta.pk
    field = None
    for part in path.split("__"):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        model = field.related_model or model
    if field is not None and field.is_relation and field.related_model is not None:
        return field.related_model._meta.pk
    return field


class KeysetPage:
    """One page of ``queryset`` ordered by ``keys`` (``[(path, descending)]``, ending with the
    primary key), starting after ``cursor``.

    Nulls sort as PostgreSQL sorts them by default (as if larger than every value: last going up,
    first going down), so a sort on an indexed column is served by that index in either direction.
    """

    def __init__(self, queryset, keys, cursor=None, size=PAGE_SIZE):
        self.keys = keys
        self.size = size
        qs = queryset.annotate(**{f"_k{i}": F(path) for i, (path, _) in enumerate(keys)})
        qs = qs.order_by(*[F(path).desc() if desc else F(path).asc() for path, desc in keys])
        if cursor is not None:
            qs = qs.filter(self._after(cursor))
        rows = list(qs[: size + 1])
        self.has_next = len(rows) > size
        self.rows = rows[:size]

    def _after(self, values):
        nothing = Q(pk__in=[])
        q, equal = nothing, Q()
        for (path, desc), value in zip(self.keys, values, strict=True):
            null = Q(**{f"{path}__isnull": True})
            if value is None:  # null is the largest value
                step = ~null if desc else nothing
                same = null
            elif desc:
                step = Q(**{f"{path}__lt": value})
                same = Q(**{path: value})
            else:
                step = Q(**{f"{path}__gt": value}) | null
                same = Q(**{path: value})
            q |= equal & step
            equal &= same
        return q

    def next_cursor(self):
        if not self.has_next or not self.rows:
            return None
        last = self.rows[-1]
        values = [getattr(last, f"_k{i}") for i in range(len(self.keys))]
        return signing.dumps(values, salt=CURSOR_SALT, serializer=_CursorSerializer, compress=True)


class _CursorSerializer:
    def dumps(self, obj):
        import json

        return json.dumps(obj, cls=_JSON, separators=(",", ":")).encode()

    def loads(self, data):
        import json

        return json.loads(data.decode())


def read_cursor(model, keys, raw):
    """The typed key values of a ``?after=`` cursor; raises ``ValueError`` when it is not one."""
    try:
        values = signing.loads(raw, salt=CURSOR_SALT, serializer=_CursorSerializer)
    except signing.BadSignature as exc:
        raise ValueError("bad signature") from exc
    if not isinstance(values, list) or len(values) != len(keys):
        raise ValueError("wrong shape")
    typed = []
    for (path, _), value in zip(keys, values, strict=True):
        field = _field_along(model, path)
        if value is not None and field is not None:
            try:
                value = field.to_python(value)
            except ValidationError as exc:
                raise ValueError("bad value") from exc
        typed.append(value)
    return typed


class FilteredTableView(TenantMixin, generic.TemplateView):
    """A tenant list: restrict() + the current organization, a filter set, a sortable table,
    keyset pages. Subclasses name ``model``, ``table_class``, ``filterset_class`` and the
    template; ``filterset_kwargs()`` may pass the filter set what it needs (the organization)."""

    model = None
    table_class = None
    filterset_class = None
    page_size = PAGE_SIZE
    sort_field = "sort"
    cursor_field = "after"
    count_cap = None  # None: CappedPaginator.cap

    def base_queryset(self):
        qs = self.model._default_manager.all()
        qs = qs.restrict(self.request.user, self.action)
        if self.scope_to_current_organization and self.organization is not None:
            qs = qs.filter(**{self.model.tenant_lookup: self.organization.pk})
        return self.decorate_queryset(qs)

    def decorate_queryset(self, qs):
        """select_related / prefetch for the columns (override)."""
        return qs

    def filterset_kwargs(self):
        return {}

    @cached_property
    def filterset(self):
        if self.filterset_class is None:
            return None
        return self.filterset_class(
            self.request.GET or None,
            queryset=self.base_queryset(),
            request=self.request,
            **self.filterset_kwargs(),
        )

    def filtered_queryset(self):
        fs = self.filterset
        if fs is None:
            return self.base_queryset()
        if fs.is_bound and not fs.is_valid():
            return self.base_queryset().none()  # the form says which value is wrong
        return fs.qs

    def sort_keys(self, table):
        """``[(path, descending)]`` for the table's current order, then the primary key."""
        keys = []
        for alias in table.order_by or ():
            column = table.columns[alias.lstrip("-")]
            # A bound column's order_by already carries the direction it is sorted in.
            for accessor in column.order_by:
                keys.append((accessor.lstrip("-").replace(".", "__"), accessor.startswith("-")))
        last_desc = keys[-1][1] if keys else True
        keys.append(("pk", last_desc))
        return keys

    def get_table(self, rows=()):
        """The table over ``rows``; its ``order_by`` is the requested sort (or the default)."""
        probe = self.table_class([])
        order = probe.order_by
        requested = self.request.GET.get(self.sort_field)
        if requested:
            probe.order_by = requested
            order = probe.order_by or order
        # order_by=() keeps the rows as the database sorted them (a table sorts a list in
        # Python otherwise); the sort is then shown in the headers.
        table = self.table_class(
            list(rows),
            order_by=(),
            order_by_field=self.sort_field,
            exclude=self.excluded_columns(),
        )
        table._order_by = order
        return table

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        keys = self.sort_keys(self.get_table())
        cursor = None
        raw = self.request.GET.get(self.cursor_field)
        if raw:
            try:
                cursor = read_cursor(self.model, keys, raw)
            except ValueError:
                messages.warning(self.request, "That page link is no longer valid: first page.")
        qs = self.filtered_queryset()
        page = KeysetPage(qs, keys, cursor, self.page_size)
        self.prepare_rows(page.rows)
        cap = self.count_cap or CappedPaginator.cap
        found = qs.order_by()[: cap + 1].count()  # bounded, as CappedPaginator
        context.update(
            table=self.get_table(page.rows),
            filter=self.filterset,
            page=page,
            next_cursor=page.next_cursor(),
            not_first_page=cursor is not None,
            cursor_field=self.cursor_field,
            sort_field=self.sort_field,
            count=min(found, cap),
            count_capped=found > cap,
            rows=page.rows,
        )
        return context

    def prepare_rows(self, rows):
        """Per-row flags for the template (``row.bulk_allowed`` ...); override."""

    def excluded_columns(self):
        """Columns not drawn for this person (the bulk checkboxes when no bulk action is
        allowed); called after ``prepare_rows``."""
        return ()
