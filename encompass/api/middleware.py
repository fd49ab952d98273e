"""API middleware.

* ``QueryStringHygieneMiddleware`` -- query strings (the API's, the web UI's and the admin's)
  obey the same text rules as API bodies (see ``encompass.api.parsers``). A NUL in ``?q=`` would
  otherwise reach PostgreSQL (which refuses it: a 500), and a bidi override in a filter value is
  never what a client means. The answer is a 400 naming the parameter, before any view runs
  (JSON on the API, plain text on the web UI and the admin).
* ``APIErrorBodyMiddleware`` -- an error the API's views never saw (a URL that matches no route,
  ``/api/v1/devices/1.5/``; Django's own 400/403/404/500 pages) is answered in JSON like every
  other API error, ``{"detail": "Not found."}``, instead of an HTML page (DEBUG's technical page
  or the site's), so clients and the documented schema can rely on one error format.
"""

from http import HTTPStatus

from django.http import HttpResponseBadRequest, JsonResponse

from .parsers import forbidden_character, text_error

API_PREFIXES = ("/api/",)


class QueryStringHygieneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
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
                    message = text_error(f"The query parameter {name!r}", code_point)
                    if request.path.startswith(API_PREFIXES):
                        return JsonResponse({name: [message]}, status=400)
                    # The web UI and the admin: the same rule, a plain answer.
                    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return None


class APIErrorBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIXES)
            and response.get("Content-Type", "").startswith("text/html")
        ):
            try:
                reason = HTTPStatus(response.status_code).phrase
            except ValueError:
                reason = response.reason_phrase
            detail = "Not found." if response.status_code == 404 else f"{reason}."
            replacement = JsonResponse({"detail": detail}, status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response
