"""Rasd's configuration files, installed as the package data ``rasd.config`` (see rasd/core/paths.py)."""
