"""The langdock-mock pytest plugin (entry point ``langdock_mock``); see ``plugin``."""
