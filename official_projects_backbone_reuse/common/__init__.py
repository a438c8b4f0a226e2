"""Helpers every command shares: errors a user can act on, safe file writes."""
