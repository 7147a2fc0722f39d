# The two commands of README.md: the main job on the demo corpus, and the test suite.
.PHONY: demo test
demo:
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt && .venv/bin/pip install -q --no-deps -e . && .venv/bin/ser-keras extract && RUN="$$(.venv/bin/ser-keras train --quiet | tail -n 1)" && .venv/bin/ser-keras evaluate "$$RUN" && .venv/bin/ser-keras export "$$RUN"
test:
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt && .venv/bin/pip install -q --no-deps -e . && .venv/bin/python -m pytest -q -n auto --dist worksteal
