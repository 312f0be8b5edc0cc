"""The long-running service.

Assembly from the config, the scheduler, hot reload, the web endpoints and the
health verdict.
"""
