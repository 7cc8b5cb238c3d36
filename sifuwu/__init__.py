"""sifuwu (四服务): shared plumbing for the four services.

Everything every service needs once lives here: the event envelope and its
vocabulary, configuration, the store dependency with its outbox, the HTTP
error mapping and the health endpoint.
"""

__version__ = "0.1.0"
