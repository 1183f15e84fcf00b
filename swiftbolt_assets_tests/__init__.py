"""The test suite. Importing the package (pytest does, before any test module, and so does every
child process of ``test_races``) sets one thing first:

``OMP_WAIT_POLICY=PASSIVE`` unless it is set already: LightGBM's OpenMP threads otherwise spin
for a while after each parallel region, waiting for more work. On a two-core machine shared
with PostgreSQL (and the other writer of a race test) that spinning takes the CPU the database
needs, so every training run waits on itself. libgomp reads the variable once, when it is
loaded (with ``import lightgbm``), hence here and not in a fixture. It changes scheduling only,
never a result.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
