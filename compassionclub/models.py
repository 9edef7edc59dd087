"""The project package keeps no tables of its own.

This module exists so Django sends ``post_migrate`` for the project app, which is installed
last: by then every app's permissions exist and ``roles.sync_roles`` can assign them.
"""
