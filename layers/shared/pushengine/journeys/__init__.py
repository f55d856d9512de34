"""Journeys: multi-step automation (model, engine, timers, store); see README "Journeys"."""
