"""Benchmarks: the predictor against the seed-style server and against its own stack's limit.

Run with ``make bench``; BENCHMARKS.md explains the figures. Nothing here is shipped.
"""
