"""Tools that produce the service's models: the SUN-attribute head and transfer learning.

Nothing here imports Django; the management commands are thin wrappers around these modules.
"""
