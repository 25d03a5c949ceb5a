"""Thin Celery tasks: each takes ids and calls a service."""
