"""The desk's server-rendered screens: Jinja2 templates, one stylesheet, no build step."""
