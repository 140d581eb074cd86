"""Benchmarks: each prints its numbers; none is a test."""
