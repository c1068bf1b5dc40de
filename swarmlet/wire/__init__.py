"""Websocket sessions between nodes: frames, handshake, request/response, streams."""
