"""HTTP routes, one router per function; the API docs function includes them all."""
