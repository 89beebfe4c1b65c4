"""The template's route groups, one module each."""
