"""The HTTP gateway: api.md's contract in front of the services' RPC."""
