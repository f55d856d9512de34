"""From a fired wave to notifications on devices: segment query (fan-out) and sending."""
