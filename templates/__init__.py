"""The default templates, installed as the package ``digest_templates``.

This folder is the editors': MJML + Jinja2 for the emails (``email/``), their plain-text
twins, and the web pages. Set DIGEST_TEMPLATES_DIR to a folder of your own to override any
of them file by file; what it lacks is taken from here.
"""
