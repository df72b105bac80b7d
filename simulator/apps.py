"""Registered as a Django app only so that ``manage.py simulate`` exists; it has no models."""

from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "simulator"
    verbose_name = "User simulator"
