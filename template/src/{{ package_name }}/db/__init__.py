"""The database layer: table base (`base.py`), the engine of this project's database (`engine.py`), sessions."""
