"""The ``flask --app app …`` commands of SPEC §5, one module per capability.

Every ``click.Command`` defined at the top level of a module in this package is registered, so a new
capability adds its commands in its own module (``commands/evidence.py``, ``commands/packs.py``, …).
"""
from __future__ import annotations

import importlib
import pkgutil

import click
from flask import Flask

import models


def connect() -> None:
    """Commands run outside a request: open the database connection they use."""
    models.db.connect(reuse_if_open=True)


def init_app(app: Flask) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, click.Command) and getattr(value.callback, "__module__", None) == module.__name__:
                app.cli.add_command(value)
