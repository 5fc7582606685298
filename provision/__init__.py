"""Provisioning: what `newsrag models install` runs once, beside the engine (see install.py)."""
