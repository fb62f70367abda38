"""Execution sandboxes for code-running tools."""
