"""Configs (what to generate) and record models (what comes out)."""
