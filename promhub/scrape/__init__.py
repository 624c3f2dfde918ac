"""promhub.scrape"""
