"""Configs and registered experiments of the project."""
