"""The API operations as plain functions of state and call (no Starlette), run under its lock."""
