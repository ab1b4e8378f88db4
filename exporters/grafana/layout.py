"""Placing panels on Grafana's 24-column grid: rows of cells left to right, top to bottom,
Grafana rows as section titles, panel ids numbered in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as model

from exporters.grafana.panels import GRID_COLUMNS, PanelBuilder


@dataclass(frozen=True)
class Cell:
    """A panel and its size in grid units (width out of 24 columns, height in rows)."""

    panel: PanelBuilder
    width: int
    height: int


@dataclass(frozen=True)
class Section:
    """A Grafana row: a full-width, one unit high section title, expanded, above the rows that
    follow it (collapsing it in Grafana hides them)."""

    title: str


Placed = PanelBuilder | dashboard_builders.Row


def layout(rows: Sequence[Sequence[Cell] | Section]) -> list[Placed]:
    """Place ``rows`` top to bottom, each row's cells left to right, and number the panels 1..n.
    A row wider than the grid is an error (Grafana would wrap it and overlap the next row)."""
    placed: list[Placed] = []
    y = 0
    for row in rows:
        if isinstance(row, Section):
            position = model.GridPos(h=1, w=GRID_COLUMNS, x=0, y=y)
            header = dashboard_builders.Row(row.title).collapsed(False).grid_pos(position)
            placed.append(header.id(len(placed) + 1))
            y += 1
            continue
        x = 0
        for cell in row:
            if x + cell.width > GRID_COLUMNS:
                raise ValueError(f"row at y={y} is wider than {GRID_COLUMNS} columns")
            position = model.GridPos(h=cell.height, w=cell.width, x=x, y=y)
            placed.append(cell.panel.grid_pos(position).id(len(placed) + 1))
            x += cell.width
        y += max((cell.height for cell in row), default=0)
    return placed


def place(
    board: dashboard_builders.Dashboard, rows: Sequence[Sequence[Cell] | Section]
) -> dashboard_builders.Dashboard:
    """``board`` with the panels (and Grafana rows) of ``layout(rows)`` added in order."""
    for item in layout(rows):
        if isinstance(item, dashboard_builders.Row):
            board = board.with_row(item)
        else:
            board = board.with_panel(item)
    return board
