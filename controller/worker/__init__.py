"""Celery side of the controller: the app and thin tasks (tasks arrive with the jobs issue)."""
