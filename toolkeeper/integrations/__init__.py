"""Integrations: an OpenAI-compatible chat client, RouteLLM-style routing, POML-style templates.

Each module stands alone and is imported on its own; the chat client needs
``httpx`` (the ``server`` extra).
"""
