"""Bounded numbers and names from outside: path ids, paging parameters, uploaded file names.

A number in a URL or a query string is only useful up to what the database can hold: SQLite
refuses integers beyond 64 bits with an ``OverflowError`` and PostgreSQL a number beyond 32 bits
for an ``integer`` id ("integer out of range"), both a 500; an offset of ``page * per_page``
must stay in range too. The int URL converter here (registered in place of
Werkzeug's by the app factory) answers 404 naming the path parameter for an id no row can
have; the marshmallow fields here bound ``page`` and ids in query strings, so ``load_params``
answers 422 naming them. File names from uploads are cut to the column that stores them.

This module imports no domain package: blueprints of every domain use it.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Final

from marshmallow import fields, validate
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map, Rule
from werkzeug.routing.converters import BaseConverter

#: The largest id a row can have: ids are ``Integer`` columns, 32 bits on PostgreSQL (SQLite
#: takes 64). A larger number in a query would fail there ("integer out of range"), not miss.
MAX_ID: Final = 2**31 - 1
#: The largest page number a listing accepts; with at most 500 per page the offset stays far
#: inside 32 bits. Nobody pages a million pages deep: exports go through the CLI.
MAX_PAGE: Final = 1_000_000
#: The longest file suffix kept whole when a file name is cut (``.camt054.xml`` fits).
_MAX_SUFFIX: Final = 16


class BoundedIntConverter(IntegerConverter):
    """The ``<int:...>`` converter, refusing numbers no database row can carry.

    A value beyond :data:`MAX_ID` (or beyond ``max=`` when a rule gives one) answers
    404 with a message naming the path parameter, instead of reaching the database.
    """

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=MAX_ID if max is None else max, signed=signed)
        #: Set by :class:`NamedConverterRule` so messages can name the parameter.
        self.parameter = "id"

    def to_python(self, value: str) -> Any:
        """Return the number, or raise 404 naming the parameter when it is out of range."""
        number = int(value)  # the regex admits digits (and a sign) only
        if ((self.min is not None and number < self.min)
                or (self.max is not None and number > self.max)):
            raise NotFound(f"path parameter {self.parameter}: {value} is out of range "
                           f"({self.min if self.min is not None else 0} to {self.max}); "
                           "no such record")
        return super().to_python(value)


class NamedConverterRule(Rule):
    """A URL rule that tells each converter which parameter it converts (for messages)."""

    def get_converter(self, variable_name: str, converter_name: str, args: tuple[Any, ...],
                      kwargs: Any) -> BaseConverter:
        """Build the converter as Werkzeug does, then name its parameter."""
        converter = super().get_converter(variable_name, converter_name, args, kwargs)
        if isinstance(converter, BoundedIntConverter):
            converter.parameter = variable_name
        return converter


def page_field(maximum: int = MAX_PAGE) -> fields.Integer:
    """A ``page`` query parameter: 1 (the default) to ``maximum`` (:data:`MAX_PAGE`)."""
    return fields.Integer(load_default=1, validate=validate.Range(min=1, max=maximum))


def id_field(**kwargs: Any) -> fields.Integer:
    """A query parameter naming a row by id: 1 to :data:`MAX_ID`."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def fit_file_name(name: str, column: Any) -> str:
    """Cut an uploaded file name to the length of the ``String(n)`` column that stores it.

    Use it on every file name a client sends before it is stored or passed on, e.g.
    ``fit_file_name(upload.filename, ReceivedReturnFile.file_name)``.

    Args:
        name: the file name as the client sent it.
        column: the model attribute (or ``Column``) the name goes into.
    """
    return cut_file_name(name, column_length(column))


def cut_file_name(name: str, length: int) -> str:
    """Cut a file name to ``length`` characters, keeping its suffix and marking the cut.

    ``a-very-long-name….xlsx``: the suffix tells the importers the format (``.xml``,
    ``.csv``) and staff what kind of file it was, so the stem is cut and ended with an
    ellipsis, when the suffix is short enough to be one. Names that fit are unchanged.
    """
    if len(name) <= length:
        return name
    suffix = PurePosixPath(name).suffix
    if not suffix or len(suffix) > _MAX_SUFFIX or len(suffix) + 1 >= length:
        return name[:length - 1] + "…"
    return name[:length - len(suffix) - 1] + "…" + suffix


def column_length(column: Any) -> int:
    """Return the declared length of a ``String(n)`` column (model attribute or Column).

    Raises:
        ValueError: the column has no declared length.
    """
    length = getattr(getattr(column, "type", None), "length", None)
    if not isinstance(length, int):
        raise ValueError(f"{column} has no declared length")
    return length
