"""Mail: the texts the service sends (`messages.py`), the outbox they wait in (`outbox.py`), and their delivery
through SMTP (`delivery.py`)."""
