"""Renderings of one results document: console, Markdown, JUnit XML, HTML, JSON, PNG chart."""
