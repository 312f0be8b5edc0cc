"""Getting documents from the internet.

HTTP fetching behind the SSRF guard, bounded decompression, feeds, listing
pages and sitemaps.
"""
