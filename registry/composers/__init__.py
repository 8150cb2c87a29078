"""Composers: use-cases that span apps (GDPR export and erasure, retention), above every app.

Like ``registry/urls.py``, the modules here know every app and call each app's own services;
nothing below them imports them. They live apart from the kernel (``registry.aws``, ``audit``,
``errors``, ``models`` ...) so that the kernel stays importable by all (docs/architecture.md).
"""
