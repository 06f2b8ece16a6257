"""Prefect flows: thin wrappers over indicators.pipeline."""
