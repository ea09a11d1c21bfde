.PHONY: demo test lint lab-up lab-down
demo: ; scripts/demo.sh
test: ; scripts/test.sh
lint:
	scripts/bootstrap.sh
	.venv/bin/ruff check src tests plugins
	.venv/bin/mypy
lab-up: ; lab/up.sh
lab-down: ; lab/down.sh
