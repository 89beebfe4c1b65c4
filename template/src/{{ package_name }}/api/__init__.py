"""HTTP routes: the template's under `routes/`, the project's own in `extensions/routes.py`."""
