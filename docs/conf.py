"""Sphinx configuration for the grouperprov docs."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "grouperprov"
author = "grouperprov developers"
copyright = "2026, grouperprov developers"
release = _version("grouperprov")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Nitpicky mode checks every cross-reference. The docs are built without
# network access, so intersphinx is not used: references into the standard
# library and Hypothesis, and private type variables and mixins that appear in
# signatures, are accepted without a target.
nitpick_ignore_regex = [
    ("py:.*", r"(collections|abc|datetime|enum|os|pathlib|typing|hypothesis)(\..*)?"),
    ("py:class", r"RecordKey"),  # a type alias, documented in grouperprov.stores
    ("py:class", r"Path|TracebackType|Self|psycopg\..*|Connection\[.*"),  # unqualified in hints
    ("py:.*", r"grouperprov(\.[a-z]+)*\._[a-z_]+\._?[A-Za-z]+"),  # private modules' names
]

html_theme = "furo"
html_title = "grouperprov"
exclude_patterns = ["_build"]
