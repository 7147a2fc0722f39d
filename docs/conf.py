"""Sphinx configuration of the ser-keras documentation (built with warnings as errors in CI)."""

import ser_keras

project = "ser-keras"
author = "the ser-keras authors"
copyright = "2026, the ser-keras authors"
release = version = ser_keras.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
    "sphinxarg.ext",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "requirements.txt"]
default_role = "py:obj"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_member_order = "bysource"
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing"]
html_theme = "alabaster"
html_title = f"ser-keras {version}"
