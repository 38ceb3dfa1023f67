"""The gateway: one ASGI app serving the web app, the API and the model mirror."""

from turbodraft.gateway.app import create_app

__all__ = ["create_app"]
