"""A paginator told its count, for lists whose total is already known from an aggregate (a check
run's per-scope counts, a vulnerability's exposure), so no page runs a COUNT(*) over them."""

from django.core.paginator import Paginator


class CountedPaginator(Paginator):
    def __init__(self, object_list, per_page, count):
        super().__init__(object_list, per_page)
        self._known = count

    @property
    def count(self):
        return self._known
