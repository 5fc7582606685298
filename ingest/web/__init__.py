"""Reading the web politely: feeds, sitemaps and article pages, for ``newsrag sync``.

``fetch`` gets one URL (robots.txt, a per-host delay, conditional GET, timeouts, a size limit,
bounded redirects, our User-Agent); ``listings`` reads what a feed or sitemap lists;
``pages`` turns a fetched article page into an ``Article``. Nothing here writes to the
index: ``ingest.source_sync`` hands the articles to the Ingestor.
"""
