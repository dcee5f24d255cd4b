"""The controller's HTTP API: one routing table (routes.py), thin handlers over controller.services."""
