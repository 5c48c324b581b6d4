"""The inspector: a web page at /__admin/ui showing the journal, limits, state and coverage."""
