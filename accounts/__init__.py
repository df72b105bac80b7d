"""Staff and API clients: token authentication for client applications."""
