"""Your code: routes, models and settings of your own. The template creates these files once and never updates them."""
