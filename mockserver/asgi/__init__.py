"""Everything Starlette: the app, the endpoint, request reading, responses, SSE, admin routes."""
