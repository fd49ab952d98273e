"""Query strings on the API: the same text rules as bodies (see ``encompass.api.parsers``).

A NUL in ``?search=`` would otherwise reach PostgreSQL (which refuses it: a 500), and a bidi
override in a filter value is never what a client means. The answer is a 400 naming the
parameter, before any view runs.
"""

from django.http import JsonResponse

from .parsers import forbidden_character, text_error

API_PREFIXES = ("/api/",)


class QueryStringHygieneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIXES):
            refused = self.refusal(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    @staticmethod
    def refusal(request):
        for key, values in request.GET.lists():
            for value in [key, *values]:
                code_point = forbidden_character(value)
                if code_point:
                    name = key if forbidden_character(key) is None else "query"
                    return JsonResponse(
                        {name: [text_error(f"The query parameter {name!r}", code_point)]},
                        status=400,
                    )
        return None
