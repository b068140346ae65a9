"""Outlet definitions (one YAML file per outlet), installed as the package data ``rasd.seeds`` (see seeds/README.md)."""
