"""Reading a generated PDF the way a person would: its text (poppler's ``pdftotext``) and its
pages as PNG images (``pdftoppm``), saved under tests/e2e/screenshots/ (git-ignored) to look at."""

import subprocess
import tempfile
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[2] / "tests" / "e2e" / "screenshots"


def pdf_text(content):
    """The text of every page (``-layout`` keeps table rows on one line)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(content)
        handle.flush()
        return subprocess.run(
            ["pdftotext", "-layout", handle.name, "-"], capture_output=True, check=True, text=True
        ).stdout


def pdf_pages(content):
    """The number of pages (``pdfinfo``)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(content)
        handle.flush()
        info = subprocess.run(
            ["pdfinfo", handle.name], capture_output=True, check=True, text=True
        ).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def pdf_to_png(content, name, *, dpi=60):
    """Render each page to ``tests/e2e/screenshots/<name>-<page>.png``; returns the paths."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(content)
        handle.flush()
        for old in SCREENSHOTS.glob(f"{name}-*.png"):
            old.unlink()
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(dpi), handle.name, str(SCREENSHOTS / name)], check=True
        )
    return sorted(SCREENSHOTS.glob(f"{name}-*.png"))
