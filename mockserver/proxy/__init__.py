"""The validation proxy: forwarding to the real API, checking both ways, recording, replay."""
