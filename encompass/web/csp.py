"""Content-Security-Policy helpers (django-csp; the policy itself is in settings).

Pages rendered with a request mark their few inline blocks with ``nonce="{{ request.csp_nonce }}"``.
A self-contained document (a printable report that is also downloaded as one HTML file) is
rendered without a request, so it cannot carry the nonce; :func:`allow_own_inline_styles` adds
the SHA-256 of each of its ``<style>`` blocks to that one response's policy instead. The blocks
come from our templates (autoescaped data cannot open a ``<style>`` element), so this allows
exactly the styles the server wrote and nothing an attacker could add.
"""

import base64
import hashlib
import re

_STYLE = re.compile(rb"<style(?:\s[^>]*)?>(.*?)</style>", re.S | re.I)


def allow_own_inline_styles(response):
    digests = {
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _STYLE.findall(response.content)
    }
    if digests:
        response._csp_update = {"style-src": sorted(digests)}
    return response
