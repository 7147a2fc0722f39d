"""Sphinx configuration of the ser-keras documentation (built with warnings as errors in CI)."""

import shutil
from pathlib import Path

import ser_keras

DOCS = Path(__file__).resolve().parent
#: Repository files the site shows as pages, mirrored under the docs at their own paths, so that the README's
#: links to them (the README is the site's "Get started") lead to the pages.
MIRRORED = ("CHANGELOG.md", "ser_keras/pretrained/ravdess/MODEL_CARD.md", "examples/web/README.md")
for name in MIRRORED:
    (DOCS / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DOCS.parent / name, DOCS / name)

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
