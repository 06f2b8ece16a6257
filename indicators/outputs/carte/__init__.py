"""The web map (`fragilite carte`): build.py writes the bundle, serve.py previews it."""
