"""Network client for the Flowdesk backend: REST and websocket, no Qt."""
