from django.apps import AppConfig


class OAuth2AuthConfig(AppConfig):
    name = "oauth2_auth"
    verbose_name = "OAuth2 authorizations"

    def ready(self) -> None:
        from oauth2_auth import jobs  # noqa: F401 - registers the workers' periodic jobs
