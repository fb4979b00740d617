"""Soak runs of the predictor module: steady load and model updates, memory sampled over time.

``python -m devtools.soak --seconds 900`` is the operator's long run (docs/reliability.md);
``tests/reliability/test_soak.py`` runs the same code for a short, asserted window.
"""
