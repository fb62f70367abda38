"""Test helpers: a scriptable OpenAI-compatible server for tests and benchmarks."""
