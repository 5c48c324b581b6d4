"""The API operations as plain functions of state and call (no Starlette)."""
