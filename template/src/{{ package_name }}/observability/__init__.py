"""What the service tells its operators: JSON logs, audit events, and the id of the request being served."""
