from django.apps import AppConfig


class TestingResultsConfig(AppConfig):
    name = "testing_results"
    verbose_name = "Drug checking"
