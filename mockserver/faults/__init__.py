"""Fault injection: the rules (which requests fail, how often) and their delivery on the wire."""
