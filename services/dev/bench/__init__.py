"""Benchmarks (DESIGN §8): every figure is a ratio against a baseline measured in the same run.

Absolute rates are not comparable between runs on these shared 2-core machines; ratios are.
Each case returns ``Row``s; ``report`` prints them and writes ``var/bench/LATEST.json``.
"""
