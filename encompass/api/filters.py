"""The filter backend every list uses: django-filter, with its values made safe for the database.

A filter naming a related row (``?site=``, ``?organization=``) only accepts rows the caller can
see: another organization's id is "not a valid choice", exactly like a missing one.

An aware datetime is compared in UTC: PostgreSQL refuses offsets beyond +/-15:59, which a client
may send (``+23:36`` is valid ISO 8601). A value that does not exist in UTC (past year 9999)
is a 400 naming the parameter.

A boolean filter takes ``true``/``false`` (or ``1``/``0``); django-filter would read any other
value as "not given" and answer the whole list, so ``?passed=maybe`` is a 400 instead.
"""

import datetime

from django_filters import filters, utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

from .serializers import restricted_queryset


def _in_utc(name, value):
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError as exc:
            message = "Give a date and time between years 1 and 9999."
            raise ValidationError({name: [message]}) from exc
    return value


BOOLEAN_SPELLINGS = {"true", "false", "1", "0"}


def _check_booleans(filterset):
    for name, declared in filterset.filters.items():
        if isinstance(declared, filters.BooleanFilter):
            for raw in filterset.data.getlist(name) if hasattr(filterset.data, "getlist") else []:
                if raw != "" and raw.lower() not in BOOLEAN_SPELLINGS:
                    raise ValidationError({name: ["Give true or false."]})


class FilterBackend(DjangoFilterBackend):
    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            _check_booleans(filterset)
            user = getattr(request, "user", None)
            for field in filterset.form.fields.values():
                narrowed = restricted_queryset(getattr(field, "queryset", None), user)
                if narrowed is not None:
                    field.queryset = narrowed
        return filterset

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        data = filterset.form.cleaned_data
        for name, value in list(data.items()):
            if isinstance(value, slice):  # range filters: slice(start, stop)
                data[name] = slice(_in_utc(name, value.start), _in_utc(name, value.stop))
            else:
                data[name] = _in_utc(name, value)
        return filterset.qs
