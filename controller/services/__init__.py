"""Plain controller logic over FleetStore: no aiohttp, no Celery."""
