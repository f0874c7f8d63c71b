from django.apps import AppConfig


class OAuth2AuthConfig(AppConfig):
    name = "oauth2_auth"
    verbose_name = "OAuth2 authorizations"
