#!/usr/bin/env bash
# Install the project with its test extras, then lint, check formatting and the import layers,
# and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[test,metrics]' 2>&1 | grep -v -E '^(WARNING|DEPRECATION)' || true
python3 -m pip show -q virtnet-reconciler >/dev/null  # fail loudly if the install did not happen

# Debian's pyverbs is built for this CPython ABI; link just that package into our
# site-packages so it is importable without shadowing pip's packages.
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -d /usr/lib/python3/dist-packages/pyverbs ] && [ ! -e "$site/pyverbs" ]; then
  ln -s /usr/lib/python3/dist-packages/pyverbs "$site/pyverbs"
fi

python3 -m ruff check reconciler tests benchmarks scripts
python3 -m ruff format --check reconciler tests benchmarks scripts
lint-imports
python3 -m pytest -q "$@"
