"""Benchmarks, run with `make bench` (see bench/ingest.py). Not part of the installed package."""
