"""Every way articles come in: page exports, feeds and article pages.

Parsers take a document's bytes and return articles and rejections without touching disk or
network (``export``, ``feeds``, ``pages``); ``locate`` and ``fetch`` are the I/O edge that
reads files, walks folders and fetches URLs; ``detect`` tells the formats apart.
"""
