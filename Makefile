# Shortcuts for the two commands in README.md.
.PHONY: demo test
demo:
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt && .venv/bin/pip install -q --no-deps -e . && .venv/bin/ser-keras manifest --with-split --plot features/demo_counts.png
test:
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt && .venv/bin/pip install -q --no-deps -e . && .venv/bin/python -m pytest -q
