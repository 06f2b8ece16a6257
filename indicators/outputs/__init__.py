"""Outputs: what users receive (layers, dictionary, run report, validation). Reads the stages'
results; nothing below imports it."""
