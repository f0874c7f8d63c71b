"""A real SOAP server (spyne) for the test suite that accepts only valid OAuth2 bearer tokens.

``fixtures.soap_server`` starts it in a subprocess; ``service`` holds the SOAP operations,
``app`` the WSGI layer (bearer check through the provider's introspection endpoint, counters).
"""
