"""Stages: what is computed from the staged tables (counts, QPV allocation, platform workers,
polygons, scoring methods and classes, rejects). Imports sources/ (staged paths), never outputs/."""
