from django.apps import AppConfig


class DefinitionsConfig(AppConfig):
    name = "definitions"
    verbose_name = "REST and SOAP definitions"

    def ready(self) -> None:
        from definitions import jobs  # noqa: F401 - registers the workers' periodic jobs
