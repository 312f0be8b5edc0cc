"""The stages in order.

One cycle over the due sources, one article through its stages, the story
window, alert dispatch, backtests.
"""
