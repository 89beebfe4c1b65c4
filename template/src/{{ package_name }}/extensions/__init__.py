"""Your code: routes and models of your own. The template creates these files once and never updates them."""
