"""accord's own lock backends, one module per URL scheme family, each a plugin.

Each module implements the ``accord_lock_backend`` provider hook and is
listed in :data:`accord.core.plugins.BUILTIN_PLUGINS`; optional packages
(redis, kazoo) are imported only when a URL of their scheme is used.
"""
