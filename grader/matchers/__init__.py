"""Matchers: (compiled rubric, prepared answer) -> per-point results.

`lexical` holds the offline matchers (keyword, fuzzy); `judge` the LLM judge.
"""
