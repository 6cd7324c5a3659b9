"""Integrations: POML templates, RouteLLM routing, HTTP instrumentation, a chat client.

Each module stands alone and is imported on its own; each names the extra it
needs (``poml``, ``routellm``, ``litellm``; the chat client and the httpx hooks
need ``httpx``, in the ``server`` extra).
"""
