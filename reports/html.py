"""Write a report folder: ``index.html`` rendered from a Jinja2 template, PNGs beside it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from reports.units import human_table

__all__ = ["Figure", "Table", "write_report"]


@dataclass(frozen=True)
class Figure:
    title: str
    file: str  # relative to the report folder
    caption: str = ""


@dataclass(frozen=True)
class Table:
    title: str
    frame: pd.DataFrame
    caption: str = ""

    @property
    def html(self) -> str:
        return human_table(self.frame).to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="—")


def _version() -> str:
    try:
        return version("scansim")
    except PackageNotFoundError:
        return "(not installed)"


def write_report(folder: Path, title: str, summary: str, figures: list[Figure],
                 tables: list[Table]) -> Path:
    """Render ``folder/index.html``; every figure file must already exist in ``folder``."""
    for figure in figures:
        if not (folder / figure.file).is_file():
            raise FileNotFoundError(f"report figure {figure.file!r} is missing from {folder}")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    page = env.get_template("report.html").render(
        title=title, summary=summary, figures=figures,
        tables=[{"title": t.title, "caption": t.caption, "html": Markup(t.html)}
                for t in tables],
        version=_version(),
    )
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
