# Vigil: the two commands a newcomer needs are `make demo` and `make test`.
# Every target bootstraps .venv and node_modules first (idempotent, see scripts/bootstrap.sh).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help bootstrap demo demo-fraud demo-air demo-toxicity test test-fast test-spark35 synth container-wheels lint format bench mutation lock clean

help:
	@echo "make demo   - run all three systems end to end on local stand-ins"
	@echo "make test   - run the whole test suite (lint, cdk-nag, cfn-lint, unit, integration)"
	@echo "make test-spark35 - the fraud ETL's tests on PySpark 3.5, as Glue 5.0 runs it (a 317 MB download)"
	@echo "make synth  - synthesize every stack to cdk.out/"
	@echo "make container-wheels - fetch the SageMaker containers' hash-pinned wheels (before synth/deploy)"
	@echo "make lint   - ruff check + format check"
	@echo "make bench  - run every benchmark under benchmarks/ (JSON last line each)"
	@echo "make mutation - mutation testing of the modules that decide answers (long: module by module)"

bootstrap:
	@bash scripts/bootstrap.sh

# ends with the console live until Ctrl-C; `make demo ARGS=--exit` (or VIGIL_DEMO_EXIT=1) exits
demo: bootstrap
	$(PY) -m local.demo all $(ARGS)

demo-fraud: bootstrap
	$(PY) -m local.demo fraud

demo-air: bootstrap
	$(PY) -m local.demo air-quality

demo-toxicity: bootstrap
	$(PY) -m local.demo toxicity

test: bootstrap
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: bootstrap
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Glue 5.0 runs Spark 3.5; the suite runs the project's pyspark 4. This puts pyspark 3.5 first on
# the path for the ETL's own tests (docs/fraud-training.md).
SPARK35 := build/spark35
test-spark35: bootstrap
	test -d $(SPARK35)/pyspark || $(PY) -m pip install --quiet --no-deps --target $(SPARK35) pyspark==3.5.5 py4j==0.10.9.7
	env -u SPARK_HOME PYTHONPATH=$(SPARK35) $(PY) -c "import pyspark; assert pyspark.__version__.startswith('3.5'), pyspark.__version__; print('pyspark', pyspark.__version__)"
	env -u SPARK_HOME PYTHONPATH=$(SPARK35) $(PY) -m pytest tests/integration/fraud/test_fraud_etl_scale_out.py tests/integration/fraud/test_fraud_etl_train_serve.py $(PYTEST_ARGS)

synth: bootstrap
	rm -rf cdk.out
	npx cdk synth --quiet --output cdk.out
	@ls cdk.out/*.template.json

# The wheels the SageMaker code bundles carry (docs/security.md); WHEELS_SOURCE=<folder> reads a
# local wheel folder instead of the index.
container-wheels: bootstrap
	$(PY) scripts/container_requirements.py wheels $(if $(WHEELS_SOURCE),--source $(WHEELS_SOURCE))

lint: bootstrap
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: bootstrap
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: bootstrap
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

# Mutation testing (mutmut, scope in pyproject.toml [tool.mutmut]); MUTATION_ARGS="--modules
# vigil.toxicity.losses" for one module, "--from-head" for the committed tree only.
mutation: bootstrap
	$(PY) benchmarks/mutation.py $(MUTATION_ARGS)

# Re-resolve requirements/*.txt into requirements/lock.txt (the file bootstrap installs).
# `pip list --format=freeze` writes name==version even for a package installed from a local file
# (pip freeze would write `name @ file:///...`), and lists setuptools, which stays pinned: the
# serving stack needs its pkg_resources (setuptools<81). Local version tags (torch==2.13.0+cpu)
# are dropped: only local wheel folders and the PyTorch index serve them, and ==2.13.0 still
# matches 2.13.0+cpu wherever one is offered.
lock: bootstrap
	$(PY) -m pip list --format=freeze --exclude-editable | grep -v -E '^(pip|wheel)==' \
		| sed -E 's/^([^=]+==[^+]+)\+[A-Za-z0-9.]+$$/\1/' > requirements/lock.txt

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache build
