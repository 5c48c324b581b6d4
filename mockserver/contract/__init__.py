"""The contract: response checks, strict mode, coverage, drift of recorded traffic, OpenAPI."""
