"""Domain steps that routes and operator commands share, so that each is written once."""
