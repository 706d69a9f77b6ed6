"""Benchmarks of benefit-ledger against PostgreSQL's own limits, measured in the same run.

`python -m bench --help` (or `make bench`) runs them; bench/README.md says what each figure means.
"""
