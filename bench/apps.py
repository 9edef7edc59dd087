from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark: its own commands (``bench_seed``, ``bench``), no models. It imports the
    product's apps; nothing in them imports it."""

    name = "bench"
    verbose_name = "Benchmark"
