"""The one CSV writer every export uses: formula cells neutralised (CSV injection, OWASP).

A text cell that a spreadsheet would read as a formula or a command -- one starting with ``=``,
``+``, ``-``, ``@``, a tab, a carriage return or a line feed (or their full-width forms) --
is written with a leading apostrophe, which spreadsheets show as text. Numbers, dates and
empty cells are written as they are. Use ``writer(file)`` / ``dict_writer(file, fieldnames)``
exactly like ``csv.writer`` / ``csv.DictWriter``.
"""

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter:
    def __init__(self, inner):
        self._inner = inner

    def writerow(self, row):
        return self._inner.writerow([safe_cell(v) for v in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


class _SafeDictWriter:
    def __init__(self, inner):
        self._inner = inner

    def writeheader(self):
        return self._inner.writeheader()

    def writerow(self, row):
        return self._inner.writerow({k: safe_cell(v) for k, v in row.items()})

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(file, **kwargs):
    return _SafeWriter(csv.writer(file, **kwargs))


def dict_writer(file, fieldnames, **kwargs):
    return _SafeDictWriter(csv.DictWriter(file, fieldnames=fieldnames, **kwargs))
