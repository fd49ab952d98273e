"""A paginator that never counts a whole large table: it counts at most ``cap`` rows.

Django's ``Paginator`` runs an exact ``COUNT(*)`` of the filtered list on every page; on an
organization with a million events or a hundred thousand devices that is a scan per page view.
``CappedPaginator`` counts ``SELECT COUNT(*) FROM (... LIMIT cap + 1)`` instead -- bounded work,
served by the same index as the page -- and says ``capped`` when there are more: the page shows
"10,000+" and the user narrows the list with its filters. Pages past the cap are not offered, so
no page needs an OFFSET deeper than the cap either.
"""

from django.core.paginator import Paginator
from django.db.models.query import QuerySet
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    cap = COUNT_CAP

    @cached_property
    def _bounded_count(self):
        rows = self.object_list
        found = rows[: self.cap + 1].count() if isinstance(rows, QuerySet) else len(rows)
        return min(found, self.cap), found > self.cap

    @cached_property
    def count(self):
        return self._bounded_count[0]

    @property
    def capped(self):
        """True when there are more rows than were counted."""
        return self._bounded_count[1]
